"""A gepa `GEPAAdapter`, unchanged, as a gepakit batch evaluator and proposer.

gepa's adapter protocol: ``evaluate(batch, candidate, capture_traces)`` returns an
`EvaluationBatch` (outputs, scores, trajectories, objective_scores) for a whole
batch; ``make_reflective_dataset(candidate, eval_batch, components)`` turns the
parent's minibatch evaluation into records for the reflection LM; an optional
``propose_new_texts(candidate, reflective_dataset, components)`` replaces the
reflection LM. `AdapterEvaluator` makes one ``evaluate`` call per gepakit
evaluation request; `AdapterProposer` makes one ``make_reflective_dataset`` call
per proposal, from the parent rollouts the engine hands the proposer.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gepakit.engine.parsing import parse_reply
from gepakit.engine.reflection import (
    Proposer,
    ProposerReply,
    ReflectionRequest,
    format_examples,
    reply_text,
)
from gepakit.errors import ConfigError, EvaluatorError
from gepakit.integrations.gepa.state import Hooks
from gepakit.types import Candidate, Example, Rollout, Score, Split

log = logging.getLogger("gepakit")

CURRENT = "<curr_param>"
SIDE_INFO = "<side_info>"


@dataclass
class EvaluationBatch:
    """The fields of gepa's `EvaluationBatch`, for adapters written without gepa.

    Adapters may return gepa's own class; gepakit reads these attributes only.
    """

    outputs: list[Any]
    scores: list[float]
    trajectories: list[Any] | None = None
    objective_scores: list[dict[str, float]] | None = None
    num_metric_calls: int | None = None


def item_of(example: Example) -> Any:
    """The user's data item inside the example it was wrapped in (``{"id", "item"}``)."""
    return example.data["item"]


class AdapterEvaluator:
    """A `BatchEvaluator` calling ``adapter.evaluate`` once per evaluation request.

    Args:
        adapter: any object with gepa's ``evaluate(batch, candidate, capture_traces)``.
        failure_score: score of each example when a call raises (and
            `raise_on_exception` is False).
        raise_on_exception: an exception from ``evaluate`` aborts the run
            (`EvaluatorError`), as in gepa, where this is the default.
        hooks: gepa callbacks notified of evaluation start and end.
    """

    def __init__(
        self,
        adapter: Any,
        *,
        failure_score: float = 0.0,
        raise_on_exception: bool = True,
        hooks: Hooks | None = None,
    ) -> None:
        self.adapter = adapter
        self.failure_score = failure_score
        self.raise_on_exception = raise_on_exception
        self.hooks = hooks or Hooks(())
        self.batch_type: type[Any] = EvaluationBatch
        self.evaluator_id = f"gepa-adapter:{type(adapter).__module__}.{type(adapter).__qualname__}"
        self._warned_calls = False
        self.ledger_users: list[Any] = []
        """Objects with ``use_ledger(ledger)`` (LMs built for this run) besides the adapter."""

    def use_ledger(self, ledger: Any) -> None:
        """Hand the run's usage ledger to the adapter and the LMs that take one."""
        for user in [self.adapter, *self.ledger_users]:
            hook = getattr(user, "use_ledger", None)
            if callable(hook):
                hook(ledger)

    def __call__(self, candidate: Mapping[str, str], example: Any) -> Score:
        """A single example (the engine uses `evaluate_batch`; this is for completeness)."""
        wrapped = Example(id="0", data={"id": "0", "item": example})
        rollout = self.evaluate_batch(
            Candidate(components=dict(candidate)), [wrapped], "val", False
        )
        r = rollout[0]
        return Score(r.score, output=r.output, trace=r.trace, objectives=dict(r.objectives))

    def evaluate_batch(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        split: Split,
        capture_traces: bool,
    ) -> list[Rollout]:
        batch = [item_of(e) for e in examples]
        texts = dict(candidate.components)
        self.hooks.evaluation_start(texts, [e.id for e in examples], batch, capture_traces)
        try:
            result = self.adapter.evaluate(batch, texts, capture_traces=capture_traces)
            rollouts = self._rollouts(result, candidate, examples, split, capture_traces)
        except Exception as exc:
            if self.raise_on_exception:
                raise EvaluatorError(
                    f"adapter.evaluate failed on a batch of {len(batch)} ({split}): "
                    f"{type(exc).__name__}: {exc} (raise_on_exception=False scores such "
                    "batches as failures and goes on)"
                ) from exc
            log.warning("adapter.evaluate failed: %s: %s", type(exc).__name__, exc)
            return [self._failure(candidate, e, split, exc) for e in examples]
        self.hooks.evaluation_end(texts, result, capture_traces)
        return rollouts

    def _rollouts(
        self,
        result: Any,
        candidate: Candidate,
        examples: Sequence[Example],
        split: Split,
        capture_traces: bool,
    ) -> list[Rollout]:
        n = len(examples)
        outputs = list(result.outputs)
        scores = list(result.scores)
        trajectories = getattr(result, "trajectories", None)
        objectives = getattr(result, "objective_scores", None)
        if len(scores) != n or len(outputs) != n:
            raise ValueError(
                f"adapter.evaluate returned {len(outputs)} outputs and {len(scores)} scores "
                f"for a batch of {n}"
            )
        if capture_traces and (trajectories is None or len(trajectories) != n):
            raise ValueError(
                "adapter.evaluate(capture_traces=True) must return one trajectory per example"
            )
        self._check_calls(result, n)
        if type(result) is not self.batch_type and dataclasses.is_dataclass(result):
            self.batch_type = type(result)
        out = []
        for i, example in enumerate(examples):
            score = float(scores[i])
            if not math.isfinite(score):
                raise ValueError(f"adapter.evaluate returned a non-finite score {scores[i]!r}")
            out.append(
                Rollout(
                    candidate_id=candidate.id,
                    example_id=example.id,
                    split=split,
                    score=score,
                    output=outputs[i],
                    trace=trajectories[i] if trajectories is not None else None,
                    objectives=dict(objectives[i] or {}) if objectives else {},
                )
            )
        return out

    def _check_calls(self, result: Any, n: int) -> None:
        calls = getattr(result, "num_metric_calls", None)
        if calls is not None and calls != n and not self._warned_calls:
            self._warned_calls = True
            log.warning(
                "the adapter reports num_metric_calls=%s for a batch of %d; gepakit counts "
                "one metric call per example",
                calls,
                n,
            )

    def _failure(
        self, candidate: Candidate, example: Example, split: Split, exc: Exception
    ) -> Rollout:
        detail = f"{type(exc).__name__}: {exc}"
        return Rollout(
            candidate_id=candidate.id,
            example_id=example.id,
            split=split,
            score=self.failure_score,
            error=detail,
            feedback=f"The system failed on this example: {detail}",
        )

    def eval_batch(self, rollouts: Sequence[Rollout]) -> Any:
        """An evaluation batch rebuilt from rollouts (for ``make_reflective_dataset``)."""
        fields: dict[str, Any] = {
            "outputs": [r.output for r in rollouts],
            "scores": [r.score for r in rollouts],
            "trajectories": [r.trace for r in rollouts],
            "objective_scores": [dict(r.objectives) for r in rollouts]
            if any(r.objectives for r in rollouts)
            else None,
        }
        try:
            return self.batch_type(**fields)
        except TypeError:
            return EvaluationBatch(**fields)


class AdapterProposer:
    """Builds the reflective dataset with the adapter, then lets `inner` write texts.

    ``make_reflective_dataset`` is called once per proposal, on the parent's
    minibatch evaluation (rebuilt from the rollouts in the request).
    """

    def __init__(
        self, adapter: Any, evaluator: AdapterEvaluator, inner: Proposer, hooks: Hooks
    ) -> None:
        self.adapter = adapter
        self.evaluator = evaluator
        self.inner = inner
        self.hooks = hooks

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        candidate = dict(request.candidate)
        components = list(request.components)
        failed = [r for r in request.rollouts if r.error]
        if failed:  # gepa skips such an iteration: there are no trajectories to read
            raise RuntimeError(
                f"nothing to reflect on: the parent's minibatch evaluation failed "
                f"({failed[0].error})"
            )
        eval_batch = self.evaluator.eval_batch(request.rollouts)
        raw = self.adapter.make_reflective_dataset(candidate, eval_batch, components)
        dataset = {str(k): [dict(rec) for rec in v] for k, v in raw.items()}
        self.hooks.dataset_built(candidate, components, dataset)
        reply = self.inner.propose(dataclasses.replace(request, reflective_dataset=dataset))
        self.hooks.proposal_end(reply)
        return reply


def check_template(template: str | Mapping[str, str], components: Sequence[str]) -> None:
    """Raise ConfigError when a gepa reflection template lacks its placeholders."""
    given: Any = template  # a user value: check it is what the annotation says
    if not isinstance(given, (str, Mapping)) or (
        isinstance(given, Mapping) and not all(isinstance(t, str) for t in given.values())  # pyright: ignore[reportUnknownVariableType]
    ):
        raise ConfigError(
            "reflection_prompt_template must be a template string or a dict of component "
            f"name -> template, got {type(given).__name__}"
        )
    items = [("", template)] if isinstance(template, str) else list(template.items())
    for name, text in items:
        if name and name not in components:
            raise ConfigError(
                f"reflection_prompt_template has a template for {name!r}, which is not a "
                f"component of the seed candidate ({sorted(components)})"
            )
        missing = [p for p in (CURRENT, SIDE_INFO) if p not in text]
        if missing:
            where = f" for {name!r}" if name else ""
            raise ConfigError(
                f"Missing placeholder(s) in prompt template{where}: {', '.join(missing)}. "
                f"A gepa reflection template needs {CURRENT} (the current text) and "
                f"{SIDE_INFO} (the examples with outputs and feedback)."
            )


class TemplateProposer:
    """Reflection with gepa-style templates: ``<curr_param>`` and ``<side_info>`` filled.

    Components without a template of their own go to `fallback` (gepakit's
    built-in reflection). Replies are parsed like the built-in proposer's.
    """

    def __init__(
        self,
        prompt_fn: Callable[[str], Any],
        templates: str | Mapping[str, str],
        fallback: Proposer,
    ) -> None:
        self.prompt_fn = prompt_fn
        self.templates = templates
        self.fallback = fallback

    def template_for(self, component: str) -> str | None:
        if isinstance(self.templates, str):
            return self.templates
        return self.templates.get(component)

    def render(self, request: ReflectionRequest, component: str, template: str) -> str:
        records = request.reflective_dataset.get(component, [])
        side_info = format_examples(records)
        # One pass, so a placeholder inside the current text or the examples stays as is.
        parts = template.split(CURRENT)
        return request.candidate[component].join(p.replace(SIDE_INFO, side_info) for p in parts)

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        texts: dict[str, str] = {}
        prompts: dict[str, str] = {}
        replies: dict[str, str] = {}
        reasons: dict[str, str] = {}
        rest = tuple(c for c in request.components if self.template_for(c) is None)
        if rest:
            other = self.fallback.propose(dataclasses.replace(request, components=rest))
            texts.update(other.texts)
            prompts.update(other.prompts)
            replies.update(other.replies)
            reasons.update(other.reasons)
        for name in request.components:
            template = self.template_for(name)
            if template is None:
                continue
            prompt = self.render(request, name, template)
            reply, _ = reply_text(self.prompt_fn(prompt))
            prompts[name], replies[name] = prompt, reply
            parsed = parse_reply(reply, request.candidate[name])
            if parsed.text is None:
                reasons[name] = parsed.reason
            else:
                texts[name] = parsed.text
        return ProposerReply(texts=texts, prompts=prompts, replies=replies, reasons=reasons)
