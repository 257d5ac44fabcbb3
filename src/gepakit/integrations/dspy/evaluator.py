"""Run a DSPy program on one example with trace capture and score it with the GEPA metric.

The evaluator returns a `gepakit.Score` whose `trace` maps each predictor name to its
reflective records (inputs, generated outputs, feedback), so the engine shows every
predictor only its own calls.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy
from dspy.adapters.chat_adapter import ChatAdapter
from dspy.adapters.types.base_type import Type as DspyType
from dspy.utils.callback import BaseCallback
from dspy.utils.exceptions import AdapterParseError
from dspy.utils.usage_tracker import UsageTracker

from gepakit.integrations.dspy.lm import record_tracker
from gepakit.integrations.dspy.metric import MetricValue, coerce_metric, score_feedback
from gepakit.integrations.dspy.programs import ExampleRecord, ProgramCache
from gepakit.lm.usage import UsageLedger
from gepakit.types import Score, content_hash

log = logging.getLogger("gepakit.dspy")

TraceEntry = tuple[Any, dict[str, Any], Any]
"""One predictor call as DSPy traces it: (predictor, inputs, prediction)."""


@dataclass(frozen=True, slots=True)
class FailedParse:
    """Stands in for the prediction of a predictor call whose reply could not be parsed."""

    completion_text: str
    error: str


class _ParseFailureCapture(BaseCallback):
    """Records (predictor, inputs, FailedParse) for every Predict call that failed to parse.

    DSPy's trace only holds successful calls; this callback keeps the failed ones with
    their own inputs (not the program's). One instance serves one rollout.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Any, Mapping[str, Any]]] = {}
        self.failures: list[TraceEntry] = []

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if isinstance(instance, dspy.Predict):
            kwargs = inputs.get("kwargs", inputs)
            self._pending[call_id] = (instance, kwargs if isinstance(kwargs, Mapping) else {})

    def on_module_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        entry = self._pending.pop(call_id, None)
        if entry is None or not isinstance(exception, AdapterParseError):
            return
        predictor, kwargs = entry
        fields = {k: v for k, v in kwargs.items() if k in predictor.signature.input_fields}
        failed = FailedParse(str(exception.lm_response or ""), _short(exception))
        self.failures.append((predictor, fields, failed))


def _short(exc: BaseException, limit: int = 400) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def format_history(history: Any) -> str:
    """A `dspy.History` as the text a custom proposer sees under "Context" (as DSPy does)."""
    lines = [f"  {i}: {message}" for i, message in enumerate(history.messages)]
    return "```json\n" + "".join(line + "\n" for line in lines) + "```"


def _reflect_value(value: Any, builtin: bool) -> Any:
    """A value as dspy.GEPA shows it to a proposer.

    The built-in proposer gets the objects (the adapter renders them); a custom one gets
    text, except `dspy.Type` values (images ...), which stay objects for multimodal
    proposers.
    """
    if builtin or isinstance(value, DspyType):
        return value
    return value if isinstance(value, str) else str(value)


def reflect_inputs(inputs: Mapping[str, Any], builtin: bool) -> dict[str, Any]:
    """A predictor's inputs as dspy.GEPA records them: a `dspy.History` comes first, as
    "Context" (the History object for the built-in proposer, fenced text otherwise)."""
    out: dict[str, Any] = {}
    history = next((k for k, v in inputs.items() if isinstance(v, dspy.History)), None)
    if history is not None:
        value = inputs[history]
        out["Context"] = value if builtin else format_history(value)
    for key, value in inputs.items():
        if key != history:
            out[key] = _reflect_value(value, builtin)
    return out


def _outputs(prediction: Any, builtin: bool) -> dict[str, Any]:
    items = prediction.items() if hasattr(prediction, "items") else []
    return {str(k): _reflect_value(v, builtin) for k, v in items}


def format_structure(signature: Any) -> str:
    """How the adapter in use expects the fields of `signature` to be laid out."""
    adapter = dspy.settings.adapter or ChatAdapter()
    try:
        return str(adapter.format_field_structure(signature))
    except Exception:
        return str(ChatAdapter().format_field_structure(signature))


@dataclass(frozen=True, slots=True)
class _Run:
    prediction: Any
    trace: list[TraceEntry]
    failures: list[TraceEntry]
    parse_error: AdapterParseError | None


_SECRET_HINTS = ("key", "token", "secret", "password", "auth")


def _callable_name(fn: Any) -> str:
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


def _describe_lm(lm: Any) -> dict[str, Any]:
    kwargs = getattr(lm, "kwargs", None)
    lm_settings = {
        str(k): v
        for k, v in (kwargs.items() if isinstance(kwargs, Mapping) else ())
        if not any(hint in str(k).lower() for hint in _SECRET_HINTS)
    }
    return {"model": str(getattr(lm, "model", type(lm).__name__)), **lm_settings}


def task_lms(student: Any) -> dict[str, Any]:
    """Predictor name -> the LM it runs with: its own (`set_lm`), else the context's."""
    return {name: pred.lm or dspy.settings.lm for name, pred in student.named_predictors()}


def evaluator_id(student: Any, metric: Any) -> str:
    """A stable id of (program state, metric, task LM settings); secrets are left out."""
    lms = task_lms(student)
    described: dict[str, Any] = {
        "program": student.dump_state(),
        "metric": _callable_name(metric),
        "adapter": type(dspy.settings.adapter).__name__ if dspy.settings.adapter else None,
    }
    if all(pred.lm is None for _, pred in student.named_predictors()):
        described["lm"] = _describe_lm(dspy.settings.lm)  # the id of runs before set_lm support
    else:
        described["lms"] = {name: _describe_lm(lm) for name, lm in lms.items()}
    return "dspy:" + content_hash(described)


class ProgramEvaluator:
    """gepakit evaluator ``(candidate, ExampleRecord) -> Score`` for a DSPy program.

    Thread-safe: each call runs in a copy of the context `compile` was called in (so
    ``dspy.context(lm=...)`` around `compile` reaches worker threads), with its own trace,
    callbacks and usage tracker. A program that raises propagates, and gepakit scores the
    rollout `failure_score` with the error as feedback. A parse failure is scored
    `failure_score` with feedback showing the expected format.

    Per-predictor feedback (the metric called with `pred_name`) is computed only for
    examples in `feedback_ids` (the trainset, where minibatches come from).
    """

    def __init__(
        self,
        *,
        programs: ProgramCache,
        metric: Callable[..., Any],
        names: Sequence[str],
        feedback_ids: frozenset[str],
        failure_score: float,
        add_format_failure_as_feedback: bool,
        warn_on_score_mismatch: bool,
        ledger: UsageLedger,
        local_lm: bool,
        seed: int,
        context: contextvars.Context,
        builtin_proposer: bool = True,
        catch_errors: bool = True,
    ) -> None:
        self.programs = programs
        self.metric = metric
        self.names = tuple(names)
        self.feedback_ids = feedback_ids
        self.failure_score = failure_score
        self.add_format_failure_as_feedback = add_format_failure_as_feedback
        self.warn_on_score_mismatch = warn_on_score_mismatch
        self.ledger = ledger
        self.local_lm = local_lm
        self.seed = seed
        self.context = context
        self.builtin_proposer = builtin_proposer
        self.catch_errors = catch_errors
        self._lock = threading.Lock()
        self._warned_mismatch = False
        self._warned_error = False
        self.errors = 0
        """Rollouts whose program or metric raised (scored `failure_score`)."""
        self.objectives: dict[tuple[tuple[tuple[str, str], ...], str], Mapping[str, float]] = {}
        """(candidate texts, example id) -> the metric's objective scores, as seen."""
        self.evaluator_id = evaluator_id(programs.student, metric)
        """Names what a rollout depends on besides the candidate, for the evaluation cache
        and resume checks: the student's structure and demos, the metric, the task LM."""

    def __call__(self, candidate: Mapping[str, str], record: ExampleRecord) -> Score:
        return self.context.copy().run(self._evaluate, candidate, record)

    def _evaluate(self, candidate: Mapping[str, str], record: ExampleRecord) -> Score:
        program = self.programs.get(candidate)
        try:
            run = self._run(program, record)
            value = self._score(run, record)
        except Exception as exc:  # scored as a failure, as dspy.GEPA does
            if not self.catch_errors:
                raise
            return self._failed(record, exc)
        if value.objectives:
            with self._lock:
                self.objectives[(tuple(sorted(candidate.items())), record.id)] = value.objectives
        trace = None
        if record.id in self.feedback_ids:
            trace = self._records(program, candidate, record, run, value.score)
        return Score(
            value.score,
            feedback=value.feedback or score_feedback(value.score),
            output=run.prediction,
            trace=trace,
            objectives=value.objectives,
        )

    def _score(self, run: _Run, record: ExampleRecord) -> MetricValue:
        if run.parse_error is not None:
            return MetricValue(
                self.failure_score,
                "The program's output could not be parsed into the expected fields "
                f"({_short(run.parse_error)}).",
                None,
            )
        return coerce_metric(self.metric(record.example, run.prediction, run.trace, None, None))

    def _failed(self, record: ExampleRecord, exc: Exception) -> Score:
        """A program or metric that raised: `failure_score`, a warning, nothing to reflect on.

        dspy.GEPA scores these `failure_score` and goes on (also when the seed program
        fails on every val example); so does this evaluator, warning on the first.
        """
        with self._lock:
            self.errors += 1
            first = not self._warned_error
            self._warned_error = True
        if first:
            log.warning(
                "the program or the metric raised on example %r (%s); such rollouts score "
                "failure_score=%g and give the reflection LM nothing to read (warned once; "
                "the count is in the run's result)",
                record.id,
                _short(exc),
                self.failure_score,
            )
        trace = {name: [] for name in self.names} if record.id in self.feedback_ids else None
        return Score(
            self.failure_score,
            feedback=f"The program failed with an error: {_short(exc)}",
            output=None,
            trace=trace,
        )

    def _run(self, program: dspy.Module, record: ExampleRecord) -> _Run:
        capture = _ParseFailureCapture()
        tracker = UsageTracker()
        callbacks = [*(dspy.settings.callbacks or []), capture]
        prediction: Any = None
        parse_error: AdapterParseError | None = None
        try:
            with dspy.context(trace=[], callbacks=callbacks, usage_tracker=tracker):
                try:
                    prediction = program(**record.example.inputs())
                except AdapterParseError as exc:
                    parse_error = exc
                trace = list(dspy.settings.trace or [])
        finally:
            self._record_usage(tracker)
        return _Run(prediction, trace, capture.failures, parse_error)

    def _record_usage(self, tracker: UsageTracker) -> None:
        record_tracker(self.ledger, "task", tracker, local=self.local_lm)

    def _records(
        self,
        program: dspy.Module,
        candidate: Mapping[str, str],
        record: ExampleRecord,
        run: _Run,
        program_score: float,
    ) -> dict[str, list[dict[str, Any]]]:
        """Each predictor's reflective records for this example (empty if it did not run)."""
        by_id = {id(pred): name for name, pred in program.named_predictors()}
        calls: dict[str, list[TraceEntry]] = {name: [] for name in self.names}
        for entry in [*run.trace, *run.failures]:
            name = by_id.get(id(entry[0]))
            if name in calls:
                calls[name].append(entry)
        rng = random.Random(content_hash([self.seed, record.id, sorted(candidate.items())]))
        out: dict[str, list[dict[str, Any]]] = {}
        for name in self.names:
            entries = calls[name]
            if not self.add_format_failure_as_feedback:
                entries = [e for e in entries if not isinstance(e[2], FailedParse)]
            failed = next((e for e in entries if isinstance(e[2], FailedParse)), None)
            if failed is not None:
                out[name] = [self._format_failure_record(failed)]
            elif entries and run.parse_error is None:
                chosen = rng.choice(entries)
                out[name] = [self._feedback_record(name, chosen, record, run, program_score)]
            else:
                out[name] = []
        return out

    def _format_failure_record(self, entry: TraceEntry) -> dict[str, Any]:
        predictor, inputs, failed = entry
        return {
            "inputs": reflect_inputs(inputs, self.builtin_proposer),
            "outputs": "(could not be parsed) the raw reply was:\n```\n"
            + failed.completion_text
            + "\n```",
            "feedback": "This output could not be parsed, so the program failed. Reply in "
            "exactly this structure:\n" + format_structure(predictor.signature),
        }

    def _feedback_record(
        self,
        name: str,
        entry: TraceEntry,
        record: ExampleRecord,
        run: _Run,
        program_score: float,
    ) -> dict[str, Any]:
        _, inputs, outputs = entry
        context = self.context.copy()

        def feedback() -> str:
            # Lazy: the per-predictor metric runs only if a proposal reflects on this
            # rollout (the engine resolves it on the proposer's thread), not for every
            # train rollout; LLM-judge metrics cost real money.
            value = coerce_metric(
                context.run(self.metric, record.example, run.prediction, run.trace, name, [entry])
            )
            if value.score != program_score:
                self._warn_mismatch(name, value.score, program_score)
            return value.feedback or score_feedback(program_score)

        return {
            "inputs": reflect_inputs(inputs, self.builtin_proposer),
            "outputs": _outputs(outputs, self.builtin_proposer),
            "feedback": feedback,
        }

    def _warn_mismatch(self, name: str, pred_score: float, program_score: float) -> None:
        if not self.warn_on_score_mismatch:
            return
        with self._lock:
            if self._warned_mismatch:
                return
            self._warned_mismatch = True
        log.warning(
            "the metric returned %g for predictor %r but %g for the whole program on the "
            "same example. gepakit uses the program score and only the feedback text of "
            "predictor-level calls; this is expected for a non-deterministic metric (LLM "
            "judge). Set warn_on_score_mismatch=False to silence this warning (shown once).",
            pred_score,
            name,
            program_score,
        )
