"""Quality benchmark: gepakit's reflection profiles vs gepa 0.1.4 on three public tasks.

Tasks (data, source and license in ``benchmarks/data/<task>/``):

- ``sentiment``: 4-way sentiment of English review sentences (BIG-bench ``multiemo``);
  exact-match metric over the labels.
- ``restaurant_json``: extract a restaurant's attributes from its description as JSON
  (BIG-bench ``gem/e2e_nlg`` turned around); per-field partial credit, feedback names
  the wrong, missing and extra fields.
- ``object_counting``: count the items of one kind in a list ("How many fruits do I
  have?"; BIG-bench ``object_counting``); the last number of the reply is the answer,
  feedback shows the counted items and the decoys.

Each task has a plain seed prompt, a `PromptProgram` on the task model (default the
embedded 0.5B ``local`` model) and fixed train (60) / val (20) / test (100) splits. The
optimizers get the same program, reflection model (default the embedded 1.5B model, with
the demo's sampling params), budget, minibatch size (3), workers (4), wall-time cap and
no merges:

- ``gepakit-auto``: ``gepakit.optimize(..., reflection_style="auto")`` (compact for the
  local models);
- ``gepakit-general``: ``reflection_style="general"``;
- ``gepa``: ``gepa.optimize`` 0.1.4 with an adapter around the same program and the same
  reflection LM as a ``fn(prompt) -> str``.

The best candidate (by val score) of each run is scored on the test split, which no
optimizer sees. The seed prompt's test score is measured once per task.

Usage (from the repository root; gepa comes with the dspy extra)::

    python benchmarks/quality_tasks.py --quick                       # smoke run, ~5 min
    python benchmarks/quality_tasks.py --lock /work/coord/heavy.lock \\
        --tasks sentiment,restaurant_json,object_counting --seeds 0,1 --budget 120

``--summarize FILE...`` prints the table of earlier results files (their runs pooled).

Prints one table row per task and optimizer: seed and best test score (mean ± SE over
seeds), metric calls used, accepted / rejected proposals, reflection calls and wall time
(mean per run), and writes every run to ``benchmarks/results/quality_tasks-<time>.json``
(rewritten after each run, so an interrupted benchmark keeps what it measured).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gepakit.errors import GepakitError
from gepakit.programs import ExactMatch, PromptProgram, extract_json
from gepakit.programs.metrics import shorten
from gepakit.types import Score

DATA = Path(__file__).resolve().parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
TASK_MODEL = "local/qwen2.5-coder-0.5b"
REFLECTION_MODEL = "local/qwen2.5-coder-1.5b"
REFLECTION_PARAMS: Mapping[str, Any] = {"max_tokens": 350, "repeat_penalty": 1.1}
"""The demo's sampling params for the 1.5B reflection model (`gepakit.demo`)."""
MINIBATCH = 3
WORKERS = 4
OPTIMIZERS = ("gepakit-auto", "gepakit-general", "gepa")
SPLITS = ("train", "val", "test")

# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------

SENTIMENT_LABELS = ("positive", "negative", "neutral", "ambivalent")
RESTAURANT_KEYS = (
    "name",
    "eat_type",
    "food",
    "price_range",
    "customer_rating",
    "area",
    "family_friendly",
    "near",
)
_EMPTY = {"", "none", "null", "unknown", "n/a", "na", "not specified", "not mentioned"}


def _norm_value(value: Any) -> str:
    """Canonical form of a field value: booleans as yes/no, case-folded, no leading 'the'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    text = " ".join(str(value).split()).casefold().strip(" .,;'\"")
    return text.removeprefix("the ").strip()


@dataclass(frozen=True, slots=True)
class FieldsMetric:
    """Partial credit for a JSON object of fields: correct fields / fields that matter.

    The fields that matter are the expected ones plus any the reply fills in with a
    non-empty value; null, empty and "unknown" values count as left out. The score is
    the share of those that are right, so extra fields and missing fields both cost.
    Feedback names each wrong, missing and extra field with the expected value.

    Args:
        answer_field: example field holding the expected ``{key: value}`` mapping.
        keys: the allowed keys, named in the feedback.
    """

    answer_field: str = "fields"
    keys: Sequence[str] = RESTAURANT_KEYS

    def field_scores(self, expected: Mapping[str, Any], got: Mapping[str, Any]) -> dict[str, bool]:
        """Per field that matters: whether the reply has it right."""
        given = {str(k): v for k, v in got.items() if _norm_value(v) not in _EMPTY}
        names = list(expected) + [k for k in given if k not in expected]
        return {
            k: k in expected and k in given and _norm_value(given[k]) == _norm_value(expected[k])
            for k in names
        }

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        expected: Mapping[str, Any] = example[self.answer_field]
        keys = ", ".join(self.keys)
        try:
            data = extract_json(reply)
        except ValueError:
            return Score(
                0.0,
                feedback=(
                    f"Format error: the reply {shorten(reply)!r} is not valid JSON. Reply "
                    f"with one JSON object using the keys {keys}; here it should have been "
                    f"{json.dumps(dict(expected), ensure_ascii=False)}."
                ),
            )
        if not isinstance(data, dict):
            return Score(
                0.0,
                feedback=(
                    f"Format error: the reply JSON is a {type(data).__name__}, not an object. "
                    f"Expected {json.dumps(dict(expected), ensure_ascii=False)}."
                ),
            )
        got: dict[str, Any] = {str(k): v for k, v in data.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        scores = self.field_scores(expected, got)
        right = [k for k, ok in scores.items() if ok]
        value = len(right) / len(scores) if scores else 1.0
        notes: list[str] = []
        for k, ok in scores.items():
            if ok:
                continue
            if k not in expected:
                unknown = "" if k in self.keys else " (not one of the allowed keys)"
                notes.append(f"extra field {k!r}{unknown}: the text does not give it, leave it out")
            elif _norm_value(got.get(k)) in _EMPTY:
                notes.append(f"missing field {k!r}: expected {expected[k]!r}")
            else:
                notes.append(f"wrong field {k!r}: expected {expected[k]!r}, got {got[k]!r}")
        if not notes:
            feedback = f"Correct: all {len(scores)} fields right ({', '.join(right)})."
        else:
            feedback = (
                f"{len(right)} of {len(scores)} fields right"
                + (f" ({', '.join(right)})" if right else "")
                + ". "
                + "; ".join(notes)
                + f". Allowed keys: {keys}."
            )
        return Score(value, feedback=feedback)


_NUMBER_NAMES = tuple(
    [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ]
)
_NUMBER_WORDS = {w: i for i, w in enumerate(_NUMBER_NAMES)}
_NUMBER = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def last_number(reply: str) -> int | None:
    """The last number in `reply`, in digits or as a word up to twenty; None if none."""
    hits = _NUMBER.findall(reply)
    if not hits:
        return None
    last = hits[-1].casefold()
    return int(last) if last.isdigit() else _NUMBER_WORDS[last]


@dataclass(frozen=True, slots=True)
class CountingMetric:
    """1.0 if the last number in the reply is the count, with the worked count as feedback."""

    answer_field: str = "answer"

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        answer = int(example[self.answer_field])
        got = last_number(reply)
        if got == answer:
            return Score(1.0, feedback=f"Correct: the answer is {answer}.")
        kind = example.get("kind", "items")
        counted = example.get("counted") or []
        decoys = example.get("decoys") or []
        worked = " + ".join(f"{item} ({n})" for item, n in counted)
        parts = [
            f"Wrong. The answer is {answer}, but "
            + (
                f"the last number in the reply was {got}."
                if got is not None
                else f"the reply {shorten(reply)!r} contains no number."
            )
        ]
        if worked:
            parts.append(f"The {kind} to count: {worked} = {answer}.")
        if decoys:
            parts.append(f"Not {kind}, so not counted: {', '.join(decoys)}.")
        parts.append("The reply must end with the final count as a number.")
        return Score(0.0, feedback=" ".join(parts))


# ---------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QualityTask:
    """One benchmark task: data, seed prompt and how to build its program."""

    name: str
    seed_prompt: str
    user_template: str
    answer_field: str
    metric: Callable[[Mapping[str, Any], str], Score]
    max_tokens: int
    labels: tuple[str, ...] | None = None
    description: str = ""

    @property
    def path(self) -> Path:
        return DATA / self.name / "examples.jsonl"

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """The fixed splits, ``{"train": [...], "val": [...], "test": [...]}``."""
        splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    splits[row.pop("split")].append(row)
        return splits

    def program(self, task_lm: Any) -> PromptProgram:
        """A `PromptProgram` for this task on `task_lm` (an LM, model name or callable)."""
        return PromptProgram(
            task_lm,
            user_template=self.user_template,
            answer_field=self.answer_field,
            metric=self.metric,
            labels=self.labels,
            max_tokens=self.max_tokens,
        )


TASKS: dict[str, QualityTask] = {
    t.name: t
    for t in (
        QualityTask(
            name="sentiment",
            seed_prompt="Classify the sentiment of the text.",
            user_template="{text}",
            answer_field="label",
            metric=ExactMatch("label", SENTIMENT_LABELS),
            labels=SENTIMENT_LABELS,
            max_tokens=16,
            description="4-way sentiment of review sentences (MultiEmo, BIG-bench)",
        ),
        QualityTask(
            name="restaurant_json",
            seed_prompt=(
                "Extract the restaurant's attributes from the description as a JSON object "
                "with the keys " + ", ".join(RESTAURANT_KEYS) + "."
            ),
            user_template="{text}",
            answer_field="fields",
            metric=FieldsMetric(),
            max_tokens=128,
            description="restaurant description -> JSON attributes (E2E NLG, BIG-bench GEM)",
        ),
        QualityTask(
            name="object_counting",
            seed_prompt="Answer the question.",
            user_template="{question}",
            answer_field="answer",
            metric=CountingMetric(),
            max_tokens=160,
            description="count the items of one kind (BIG-bench object_counting)",
        ),
    )
}


# ---------------------------------------------------------------------------------------
# Running the optimizers
# ---------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """One optimizer run on one task with one seed."""

    task: str
    optimizer: str
    seed: int
    budget: int
    best_prompt: str = ""
    best_val: float = 0.0
    seed_val: float = 0.0
    test: float = 0.0
    seed_test: float = 0.0
    metric_calls: int = 0
    accepted: int = 0
    rejected: int = 0
    reflection_calls: int = 0
    candidates: int = 0
    wall_seconds: float = 0.0
    test_seconds: float = 0.0
    stop_reason: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Models:
    """Builds the LMs of one run: a task LM for the program, the reflection LM, a ledger."""

    task_model: str = TASK_MODEL
    reflection_model: str = REFLECTION_MODEL
    factory: Callable[[str, str, Any], Any] | None = None
    """``(spec, role, ledger) -> LM``; default `gepakit.lm.resolve_lm` (tests pass fakes)."""

    def make(self, spec: str, role: str, ledger: Any) -> Any:
        if self.factory is not None:
            return self.factory(spec, role, ledger)
        from gepakit.lm import resolve_lm

        params = REFLECTION_PARAMS if role == "reflection" else {}
        return resolve_lm(spec, role=role, ledger=ledger, **params)


def supports_reflection_style() -> bool:
    """Whether this gepakit's `optimize` takes `reflection_style` (added by issue 13)."""
    import gepakit

    return "reflection_style" in inspect.signature(gepakit.optimize).parameters


def score_prompt(
    program: PromptProgram, prompt: str, examples: Sequence[Mapping[str, Any]], workers: int
) -> float:
    """Mean score of `prompt` on `examples`; a failed rollout scores 0."""
    if not examples:
        return 0.0
    candidate = {program.component: prompt}

    def one(example: Mapping[str, Any]) -> float:
        try:
            return float(program(candidate, example).score)
        except GepakitError:
            return 0.0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return statistics.fmean(pool.map(one, examples))


def run_gepakit(
    task: QualityTask,
    splits: Mapping[str, list[dict[str, Any]]],
    *,
    style: str,
    seed: int,
    budget: int,
    models: Models,
    workers: int,
    timeout: float | None,
) -> RunRecord:
    import gepakit
    from gepakit.lm import UsageLedger

    ledger = UsageLedger()
    program = task.program(models.make(models.task_model, "task", ledger))
    reflection_lm = models.make(models.reflection_model, "reflection", ledger)
    kwargs: dict[str, Any] = {}
    if supports_reflection_style():
        kwargs["reflection_style"] = style
    elif style != "auto":
        raise RuntimeError(f"this gepakit has no reflection_style; cannot run {style!r}")
    record = RunRecord(task.name, f"gepakit-{style}", seed, budget)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quality-") as run_dir:
        result = gepakit.optimize(
            {program.component: task.seed_prompt},
            splits["train"],
            splits["val"],
            evaluator=program,
            reflection_lm=reflection_lm,
            max_metric_calls=budget,
            reflection_minibatch_size=MINIBATCH,
            use_merge=False,
            seed=seed,
            workers=workers,
            run_dir=run_dir,
            timeout=timeout,
            progress=False,
            **kwargs,
        )
    record.wall_seconds = time.perf_counter() - started
    decisions = [p.decision for p in result.proposals]
    record.best_prompt = result.best_candidate[program.component]
    record.best_val = result.best_score
    record.seed_val = result.val_aggregate_scores[0]
    record.metric_calls = result.total_metric_calls
    record.accepted = decisions.count("accepted")
    record.rejected = len(decisions) - record.accepted
    record.reflection_calls = ledger.usage("reflection").calls
    record.candidates = result.num_candidates
    record.stop_reason = result.stop_reason
    record.extra = {"decisions": {d: decisions.count(d) for d in sorted(set(decisions))}}
    return record


class ProgramAdapter:
    """A gepa 0.1.4 ``GEPAAdapter`` around a `PromptProgram` (batches on a thread pool)."""

    propose_new_texts = None

    def __init__(self, program: PromptProgram, workers: int) -> None:
        self.program = program
        self.workers = workers

    def _one(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        try:
            return self.program(candidate, example)
        except GepakitError as error:
            return Score(0.0, feedback=f"The task LM failed: {error}", output="")

    def evaluate(
        self,
        batch: list[dict[str, Any]],
        candidate: dict[str, str],
        capture_traces: bool = False,
    ) -> Any:
        from gepa.core.adapter import EvaluationBatch

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            scores = list(pool.map(lambda ex: self._one(candidate, ex), batch))
        component = self.program.component
        trajectories = None
        if capture_traces:
            trajectories = [
                {
                    "inputs": (s.trace or {}).get(component, {}).get("inputs", ex),
                    "output": str(s.output or ""),
                    "feedback": s.feedback or "",
                }
                for ex, s in zip(batch, scores, strict=True)
            ]
        return EvaluationBatch(
            outputs=[str(s.output or "") for s in scores],
            scores=[float(s.score) for s in scores],
            trajectories=trajectories,
        )

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        records = [
            {"Inputs": t["inputs"], "Generated Outputs": t["output"], "Feedback": t["feedback"]}
            for t in eval_batch.trajectories
        ]
        return {name: list(records) for name in components_to_update}


class _GepaCounter:
    """gepa callback counting accepted and rejected proposals."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0

    def on_candidate_accepted(self, event: Any) -> None:
        self.accepted += 1

    def on_candidate_rejected(self, event: Any) -> None:
        self.rejected += 1


def _prompt_fn(lm: Any) -> Callable[[str | list[dict[str, Any]]], str]:
    """gepa's reflection LM: a prompt string (or chat messages) in, the reply text out."""

    def call(prompt: str | list[dict[str, Any]], /) -> str:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return lm.complete(messages).text

    return call


class _SilentLogger:
    def log(self, message: str) -> None:
        pass


def run_gepa(
    task: QualityTask,
    splits: Mapping[str, list[dict[str, Any]]],
    *,
    seed: int,
    budget: int,
    models: Models,
    workers: int,
    timeout: float | None,
) -> RunRecord:
    from gepa.api import optimize
    from gepa.utils.stop_condition import TimeoutStopCondition

    from gepakit.lm import UsageLedger

    ledger = UsageLedger()
    program = task.program(models.make(models.task_model, "task", ledger))
    reflection_lm = models.make(models.reflection_model, "reflection", ledger)
    counter = _GepaCounter()
    record = RunRecord(task.name, "gepa", seed, budget)
    stoppers: list[Any] = [TimeoutStopCondition(timeout)] if timeout else []
    started = time.perf_counter()
    adapter: Any = ProgramAdapter(program, workers)
    reflect: Any = _prompt_fn(reflection_lm)
    result = optimize(
        seed_candidate={program.component: task.seed_prompt},
        trainset=splits["train"],
        valset=splits["val"],
        adapter=adapter,
        reflection_lm=reflect,
        max_metric_calls=budget,
        reflection_minibatch_size=MINIBATCH,
        use_merge=False,
        seed=seed,
        logger=_SilentLogger(),
        callbacks=[counter],  # pyright: ignore[reportArgumentType]
        stop_callbacks=stoppers,
        display_progress_bar=False,
        raise_on_exception=False,
    )
    record.wall_seconds = time.perf_counter() - started
    best = result.best_idx
    record.best_prompt = result.candidates[best][program.component]
    record.best_val = float(result.val_aggregate_scores[best])
    record.seed_val = float(result.val_aggregate_scores[0])
    record.metric_calls = int(result.total_metric_calls or 0)
    record.accepted = counter.accepted
    record.rejected = counter.rejected
    record.reflection_calls = ledger.usage("reflection").calls
    record.candidates = len(result.candidates)
    return record


@contextlib.contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on `path` (no-op for None)."""
    if path is None:
        yield
        return
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    time.sleep(LOCK_PAUSE)  # let a waiting job take the lock before the next run does


LOCK_PAUSE = 5.0
"""Seconds between releasing the lock and asking for it again."""


@dataclass
class Bench:
    """Runs tasks x optimizers x seeds and scores each best prompt on the test split."""

    models: Models = field(default_factory=Models)
    workers: int = WORKERS
    timeout: float | None = None
    test_limit: int | None = None
    out: Path | None = None
    lock: Path | None = None
    """A lock file taken (``flock``) around each run, so other heavy jobs can run between."""
    echo: Callable[[str], None] = print
    records: list[RunRecord] = field(default_factory=list[RunRecord])
    _test_cache: dict[tuple[str, str], float] = field(default_factory=dict[tuple[str, str], float])
    _meta: dict[str, Any] = field(default_factory=dict[str, Any])

    def test_score(
        self, task: QualityTask, prompt: str, test: Sequence[Mapping[str, Any]]
    ) -> float:
        key = (task.name, prompt)
        if key not in self._test_cache:
            from gepakit.lm import UsageLedger

            program = task.program(self.models.make(self.models.task_model, "test", UsageLedger()))
            self._test_cache[key] = score_prompt(program, prompt, test, self.workers)
        return self._test_cache[key]

    def run_one(self, task: QualityTask, optimizer: str, seed: int, budget: int) -> RunRecord:
        splits = task.load()
        test = splits["test"][: self.test_limit] if self.test_limit else splits["test"]
        common: dict[str, Any] = {
            "seed": seed,
            "budget": budget,
            "models": self.models,
            "workers": self.workers,
            "timeout": self.timeout,
        }
        try:
            if optimizer == "gepa":
                record = run_gepa(task, splits, **common)
            elif optimizer.startswith("gepakit-"):
                record = run_gepakit(
                    task, splits, style=optimizer.removeprefix("gepakit-"), **common
                )
            else:
                raise ValueError(f"unknown optimizer {optimizer!r}; use one of {OPTIMIZERS}")
        except Exception as error:  # a failed run is reported, the benchmark goes on
            record = RunRecord(task.name, optimizer, seed, budget, error=repr(error))
            self.echo(f"  {task.name} {optimizer} seed {seed}: FAILED {error!r}")
            self.records.append(record)
            self.save()
            return record
        started = time.perf_counter()
        record.seed_test = self.test_score(task, task.seed_prompt, test)
        record.test = self.test_score(task, record.best_prompt, test)
        record.test_seconds = time.perf_counter() - started
        record.extra["n_test"] = len(test)
        self.records.append(record)
        self.echo(
            f"  {task.name} {optimizer} seed {seed}: test {record.seed_test:.3f} -> "
            f"{record.test:.3f} (val {record.seed_val:.3f} -> {record.best_val:.3f}), "
            f"{record.metric_calls} calls, {record.accepted} accepted / {record.rejected} "
            f"rejected, {record.reflection_calls} reflection calls, {record.wall_seconds:.0f}s"
        )
        self.save()
        return record

    def run(
        self, tasks: Sequence[str], optimizers: Sequence[str], seeds: Sequence[int], budget: int
    ) -> list[RunRecord]:
        self._meta = {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tasks": list(tasks),
            "optimizers": list(optimizers),
            "seeds": list(seeds),
            "budget": budget,
            "task_model": self.models.task_model,
            "reflection_model": self.models.reflection_model,
            "reflection_params": dict(REFLECTION_PARAMS),
            "workers": self.workers,
            "timeout": self.timeout,
            "minibatch": MINIBATCH,
            "test_limit": self.test_limit,
            "reflection_style_supported": supports_reflection_style(),
            "command": " ".join(sys.argv),
        }
        for seed in seeds:  # seed-major, so an interrupted run has every optimizer per seed
            for name in tasks:
                for optimizer in optimizers:
                    with _locked(self.lock):
                        self.run_one(TASKS[name], optimizer, seed, budget)
        return self.records

    def save(self) -> None:
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "meta": self._meta,
            "summary": summarize(self.records),
            "runs": [r.to_dict() for r in self.records],
        }
        self.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


def mean_se(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (0 for fewer than two values)."""
    if not xs:
        return (math.nan, math.nan)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return (statistics.fmean(xs), se)


def summarize(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per (task, optimizer) over the successful runs, in first-seen order."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.task, r.optimizer), []).append(r)
    rows: list[dict[str, Any]] = []
    for (task, optimizer), runs in groups.items():
        ok = [r for r in runs if not r.error]
        row: dict[str, Any] = {
            "task": task,
            "optimizer": optimizer,
            "runs": len(ok),
            "failed": len(runs) - len(ok),
            "seeds": [r.seed for r in ok],
        }
        if ok:
            for key in ("seed_test", "test", "best_val"):
                row[key], row[key + "_se"] = mean_se([getattr(r, key) for r in ok])
            for key in ("metric_calls", "accepted", "rejected", "reflection_calls", "wall_seconds"):
                row[key] = statistics.fmean(getattr(r, key) for r in ok)
        rows.append(row)
    return rows


def _mean_se_cell(mean: float, se: float, runs: int) -> str:
    """``mean ± SE``; a single run has no standard error to show."""
    return f"{mean:.3f} ± {se:.3f}" if runs > 1 else f"{mean:.3f} (1 run)"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of `summarize` rows."""
    headers = [
        "task",
        "optimizer",
        "runs",
        "seed test",
        "best test (mean ± SE)",
        "best val",
        "metric calls",
        "accepted / rejected",
        "reflection calls",
        "wall s",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        if not row.get("runs"):
            cells = [row["task"], row["optimizer"], f"0 ({row['failed']} failed)"] + ["-"] * 7
        else:
            runs = f"{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
            cells = [
                row["task"],
                row["optimizer"],
                runs,
                f"{row['seed_test']:.3f}",
                _mean_se_cell(row["test"], row["test_se"], row["runs"]),
                _mean_se_cell(row["best_val"], row["best_val_se"], row["runs"]),
                f"{row['metric_calls']:.0f}",
                f"{row['accepted']:.1f} / {row['rejected']:.1f}",
                f"{row['reflection_calls']:.1f}",
                f"{row['wall_seconds']:.0f}",
            ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def load_records(paths: Sequence[Path]) -> list[RunRecord]:
    """The runs of results files written by `Bench.save`, in file order."""
    records: list[RunRecord] = []
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        records += [RunRecord(**run) for run in data["runs"]]
    return records


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--budget", type=int, default=120, help="metric calls per run")
    parser.add_argument("--timeout", type=float, default=600.0, help="wall-time cap per run (s)")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--test-limit", type=int, default=None, help="score on the first N test")
    parser.add_argument("--task-model", default=TASK_MODEL)
    parser.add_argument("--reflection-model", default=REFLECTION_MODEL)
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument(
        "--lock", type=Path, default=None, help="flock this file around each run (shared CPUs)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: seed 0, budget 50, 10 test examples"
    )
    parser.add_argument(
        "--summarize",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print the table of earlier results files (runs pooled) and exit",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        print(format_table(summarize(load_records(args.summarize))))
        return 0
    tasks, optimizers = _csv(args.tasks), _csv(args.optimizers)
    for name in tasks:
        if name not in TASKS:
            parser.error(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    for name in optimizers:
        if name not in OPTIMIZERS:
            parser.error(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    seeds = [int(s) for s in _csv(args.seeds)]
    budget, test_limit, timeout = args.budget, args.test_limit, args.timeout
    if args.quick:
        seeds, budget, test_limit, timeout = [0], 50, 10, 240.0
    if not supports_reflection_style() and "gepakit-general" in optimizers:
        print("note: this gepakit.optimize has no reflection_style; skipping gepakit-general")
        optimizers = [o for o in optimizers if o != "gepakit-general"]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"quality_tasks-{'quick-' if args.quick else ''}{stamp}.json"
    bench = Bench(
        models=Models(args.task_model, args.reflection_model),
        workers=args.workers,
        timeout=timeout,
        test_limit=test_limit,
        out=out,
        lock=args.lock,
    )
    print(
        f"quality_tasks: tasks {tasks}, optimizers {optimizers}, seeds {seeds}, budget "
        f"{budget}, task model {args.task_model}, reflection model {args.reflection_model}"
    )
    bench.run(tasks, optimizers, seeds, budget)
    print()
    print(format_table(summarize(bench.records)))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
