"""What gepa does with ``task_lm=``: a system prompt optimized on question/answer data.

Data items are mappings with ``"input"`` (the user message), ``"answer"`` and
optionally ``"additional_context"`` (a dict of strings shown in the feedback of
wrong answers), as for gepa's `DefaultAdapter`. The first component of the
candidate is the system prompt. Without an ``evaluator``, a response is correct
when it contains the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gepakit.errors import ConfigError
from gepakit.integrations.gepa.adapter import EvaluationBatch

Messages = list[dict[str, str]]


def is_named_lm(model: Any) -> bool:
    """True for what gepakit resolves itself: a model name or a gepakit LM object.

    Any other callable is called as gepa calls it (``messages -> str`` for a task LM,
    ``prompt -> str`` for a reflection LM), even if it has a ``complete`` attribute
    (a `unittest.mock.Mock` has every attribute).
    """
    if isinstance(model, str):
        return True
    if not hasattr(model, "complete"):
        return False
    return not callable(model) or type(model).__module__.startswith("gepakit.")


def contains_answer(data: Mapping[str, Any], response: str) -> tuple[float, str, None]:
    """1.0 when the expected answer occurs in the response, with feedback saying so."""
    answer = str(data["answer"])
    if answer in response:
        return 1.0, f"Correct: the response contains the expected answer {answer!r}.", None
    feedback = (
        f"Incorrect: the expected answer is {answer!r}, and the response must contain it "
        "exactly as written."
    )
    context = data.get("additional_context") or {}
    if isinstance(context, Mapping) and context:
        lines = "\n".join(f"{k}: {v}" for k, v in context.items())
        feedback += f" Context that may help:\n{lines}"
    return 0.0, feedback, None


def read_result(value: Any) -> tuple[float, str, dict[str, float] | None]:
    """(score, feedback, objective scores) from gepa's `EvaluationResult` or alike."""
    if hasattr(value, "score"):
        score = value.score
        feedback = getattr(value, "feedback", "") or ""
        objectives = getattr(value, "objective_scores", None)
        if objectives is None:
            objectives = getattr(value, "objectives", None)
    elif isinstance(value, tuple) and len(value) >= 2:
        score, feedback = value[0], value[1]
        objectives = value[2] if len(value) > 2 else None
    elif isinstance(value, (int, float)):
        score, feedback, objectives = value, "", None
    else:
        raise TypeError(
            f"evaluator returned {type(value).__name__}; return (score, feedback) or an "
            "object with .score and .feedback (gepa's EvaluationResult)"
        )
    return float(score), str(feedback), dict(objectives) if objectives else None


class TaskLMAdapter:
    """A gepa-style adapter that prompts `model` with the candidate's system prompt.

    Args:
        model: a model name (resolved by gepakit: ``"openai/gpt-4.1-mini"``,
            ``"local"``, any LiteLLM name), an LM object, or a callable
            ``messages -> str`` (gepa's ChatCompletionCallable).
        evaluator: ``evaluator(data, response) -> (score, feedback[, objective_scores])``
            or gepa's `EvaluationResult`; default: contains-the-answer.
        max_workers: concurrent LM calls per batch for named models and LM objects.
    """

    def __init__(
        self,
        model: Any,
        evaluator: Callable[[Any, str], Any] | None = None,
        *,
        max_workers: int = 10,
    ) -> None:
        if not (is_named_lm(model) or callable(model)):
            raise ConfigError(
                "task_lm must be a model name, an LM object or a callable messages -> str, "
                f"got {type(model).__name__}"
            )
        self.model = model
        self.evaluator = evaluator or contains_answer
        self.max_workers = max_workers
        self._lm: Any = None
        if is_named_lm(model):
            self.use_ledger(None)

    def use_ledger(self, ledger: Any) -> None:
        """Record the task LM's usage in the run's ledger (for named models and LMs)."""
        if is_named_lm(self.model):
            from gepakit.lm.resolve import resolve_lm

            self._lm = resolve_lm(self.model, role="task", ledger=ledger)

    @staticmethod
    def check_data(items: Sequence[Any], name: str) -> None:
        """ConfigError unless every item is a mapping with "input" and "answer"."""
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or "input" not in item or "answer" not in item:
                raise ConfigError(
                    f"{name}[{i}] must be a dict with 'input' and 'answer' (and optionally "
                    f"'additional_context') for task_lm=; got {item!r:.120}. Pass adapter= "
                    "for other data."
                )

    def _complete(self, messages: Messages) -> str:
        if self._lm is not None:
            return str(self._lm.complete(messages).text)
        model: Any = self.model
        return str(model(messages))

    def evaluate(
        self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch:
        system = next(iter(candidate.values()))
        requests: list[Messages] = [
            [{"role": "system", "content": system}, {"role": "user", "content": str(d["input"])}]
            for d in batch
        ]
        if self._lm is not None and len(requests) > 1 and self.max_workers > 1:
            with ThreadPoolExecutor(min(self.max_workers, len(requests))) as pool:
                responses = list(pool.map(self._complete, requests))
        else:
            responses = [self._complete(m) for m in requests]
        outputs: list[Any] = []
        scores: list[float] = []
        trajectories: list[Any] = []
        objectives: list[dict[str, float] | None] = []
        for data, response in zip(batch, responses, strict=True):
            score, feedback, objective = read_result(self.evaluator(data, response))
            outputs.append({"full_assistant_response": response})
            scores.append(score)
            objectives.append(objective)
            trajectories.append(
                {"data": data, "full_assistant_response": response, "feedback": feedback}
            )
        given = [o for o in objectives if o is not None]
        if given and len(given) != len(objectives):
            raise ValueError("the evaluator returned objective scores for some examples only")
        return EvaluationBatch(
            outputs=outputs,
            scores=scores,
            trajectories=trajectories if capture_traces else None,
            objective_scores=given or None,
        )

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: Any,
        components_to_update: list[str],
    ) -> dict[str, list[dict[str, Any]]]:
        records = [
            {
                "Inputs": t["data"]["input"],
                "Generated Outputs": t["full_assistant_response"],
                "Feedback": t["feedback"],
            }
            for t in eval_batch.trajectories or ()
        ]
        if not records:
            raise ValueError("no trajectories to reflect on")
        return {name: list(records) for name in components_to_update}
