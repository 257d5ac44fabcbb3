"""Every option of `gepakit.optimize`, defined once.

Each `Option` row holds the name, the group (budget, search, reflection, ...), the
default, what a valid value is (checked before any evaluator or LM call), and a
one-line doc. The front doors are derived from this table: `gepakit.optimize`
validates its keywords with `check_options`, the TOML config (`gepakit run`) takes
the rows marked ``toml`` and shows their docs in ``--help``, and the DSPy and gepa
entry points validate their own spellings of the same options with
`optimize_kwargs(values, renames=...)` (the gepa one calls `gepakit.optimize` inside
`validated`, so those values are not checked twice). A test asserts that `optimize`'s
signature and this table agree (names and defaults).

Adding an option: add a row to `OPTIONS` (and the keyword to `optimize`).
Adding a strategy name: add it to its `Literal` and its factory table below.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import math
import numbers
import os
import secrets
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, get_args

from gepakit.engine.acceptance import Acceptance, ImprovementOrEqual, StrictImprovement
from gepakit.engine.health import DEFAULT_MAX_ERROR_RATE
from gepakit.engine.profiles import REFLECTION_STYLES
from gepakit.engine.prompts import TEMPLATE_PLACEHOLDERS as _ENGINE_PLACEHOLDERS
from gepakit.engine.selection import (
    AllComponents,
    CandidateSelector,
    ComponentSelector,
    CurrentBestSelector,
    EpsilonGreedySelector,
    ParetoSelector,
    RoundRobinComponents,
    TopKParetoSelector,
)
from gepakit.engine.state import FRONTIER_TYPES
from gepakit.engine.valpolicy import (
    FullEvaluation,
    ProgressiveEvaluation,
    SubsampleEvaluation,
    ValPolicy,
)
from gepakit.errors import ConfigError

log = logging.getLogger("gepakit")

__all__ = [
    "ACCEPTANCES",
    "CANDIDATE_SELECTORS",
    "COMPONENT_SELECTORS",
    "GROUPS",
    "OPTIONS",
    "REQUIRED",
    "TEMPLATE_PLACEHOLDERS",
    "Option",
    "check_option",
    "check_options",
    "markdown_table",
    "names",
    "optimize_kwargs",
    "resolve_seed",
    "strategy_name",
    "validated",
]

Group = Literal["data", "budget", "search", "reflection", "execution", "run", "stop", "tracking"]
GROUPS: tuple[Group, ...] = get_args(Group)

# -- strategy names: one Literal (for editors) and one name -> factory table each ----------

CandidateSelectorName = Literal["pareto", "current_best", "epsilon_greedy", "top_k_pareto"]
FrontierTypeName = Literal["instance", "objective", "hybrid", "cartesian"]
ValPolicyName = Literal["full", "subsample", "progressive", "full_eval"]
BatchSamplerName = Literal["epoch", "epoch_shuffled"]
ComponentSelectorName = Literal["round_robin", "all"]
AcceptanceName = Literal["improvement", "strict_improvement", "improvement_or_equal"]
AutoBudgetName = Literal["light", "medium", "heavy"]
ExecutorName = Literal["inline", "thread", "ray"]

CANDIDATE_SELECTORS: dict[str, Callable[[], CandidateSelector]] = {
    "pareto": ParetoSelector,
    "current_best": CurrentBestSelector,
    "epsilon_greedy": EpsilonGreedySelector,
    "top_k_pareto": TopKParetoSelector,  # k from the top_k option
}
VAL_POLICIES: dict[str, Callable[[], ValPolicy]] = {
    "full": FullEvaluation,
    "subsample": SubsampleEvaluation,
    "progressive": ProgressiveEvaluation,
    "full_eval": FullEvaluation,  # gepa's name
}
BATCH_SAMPLERS: tuple[str, ...] = get_args(BatchSamplerName)
COMPONENT_SELECTORS: dict[str, Callable[[], ComponentSelector]] = {
    "round_robin": RoundRobinComponents,
    "all": AllComponents,
}
ACCEPTANCES: dict[str, Callable[[], Acceptance]] = {
    "improvement": StrictImprovement,
    "strict_improvement": StrictImprovement,  # the same rule, under gepa's name
    "improvement_or_equal": ImprovementOrEqual,
}
EXECUTORS: tuple[str, ...] = get_args(ExecutorName)
AUTO_BUDGETS: tuple[str, ...] = get_args(AutoBudgetName)

GEPA_NAMES = {"strict_improvement": "improvement", "full_eval": "full", "epoch_shuffled": "epoch"}
"""gepa's names of built-in strategies that gepakit names otherwise (optimize takes both)."""


def gepakit_name(value: Any) -> Any:
    """`value`, with gepa's name of a built-in strategy replaced by gepakit's (`GEPA_NAMES`)."""
    return GEPA_NAMES.get(value, value) if isinstance(value, str) else value


def quoted_choices(names: Any) -> str:
    """The choices of a `Literal` (or a sequence of names) for an error: ``'a', 'b' or 'c'``."""
    values = [repr(v) for v in (get_args(names) or names)]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def strategy_name(obj: object) -> str | None:
    """The name `optimize` accepts for a built-in strategy object (first name wins), else None.

    The run spec (`gepakit.store.spec`) describes built-in strategies by this name.
    """
    for table in (CANDIDATE_SELECTORS, COMPONENT_SELECTORS, ACCEPTANCES, VAL_POLICIES):
        for name, factory in table.items():
            if type(obj) is factory:
                return name
    return None


TEMPLATE_PLACEHOLDERS: set[str] = set(_ENGINE_PLACEHOLDERS)
"""The placeholders `ReflectiveProposer.build_prompt` fills in a reflection template.

A template naming any other placeholder is refused up front. Code that teaches the
proposer a new placeholder adds its name here (the set is mutable on purpose)."""


# -- checks: what a valid value is ---------------------------------------------------------


class _Invalid(Exception):
    """Raised by a check; `check_option` turns it into a ConfigError naming the option."""


@dataclass(frozen=True, slots=True)
class Check:
    """A validity test with the words that describe a valid value (for errors and help)."""

    kind: str
    problem: Callable[[Any], str | None]
    """None when the value is valid, else what is wrong with it."""
    toml_kind: str = ""
    """How a TOML config writes a valid value, when that differs from `kind`."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _simple(
    kind: str, ok: Callable[[Any], bool], *, optional: bool = False, toml_kind: str = ""
) -> Check:
    shown = f"{kind} or None" if optional else kind

    def problem(value: Any) -> str | None:
        if optional and value is None:
            return None
        return None if ok(value) else f"must be {shown}"

    return Check(shown, problem, toml_kind or kind)


def integer(minimum: int, *, optional: bool = False) -> Check:
    """An int (not a bool) >= `minimum`."""
    kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    return _simple(kind, lambda v: _is_int(v) and v >= minimum, optional=optional)


def number(*, positive: bool = False, optional: bool = False) -> Check:
    """A finite int or float (not a bool, NaN or infinity); `positive`: > 0."""

    def ok(v: Any) -> bool:
        return _is_number(v) and math.isfinite(v) and (v > 0 or not positive)

    kind = "a finite number > 0" if positive else "a finite number"
    return _simple(kind, ok, optional=optional)


BOOL = _simple("True or False", lambda v: isinstance(v, bool), toml_kind="true or false")


def text(*, optional: bool = False) -> Check:
    """A non-empty string."""
    return _simple(
        "a non-empty string", lambda v: isinstance(v, str) and v != "", optional=optional
    )


def _path_ok(value: Any) -> bool:
    if not isinstance(value, (str, os.PathLike)):
        return False
    raw = os.fspath(value)  # pyright: ignore[reportUnknownArgumentType]
    return isinstance(raw, str) and raw.strip() != "" and "\x00" not in raw


PATH = _simple(
    "a non-empty path (str or pathlib.Path)", _path_ok, optional=True, toml_kind="a path"
)
MAPPING = _simple(
    "a dict with string keys",
    lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v),  # pyright: ignore[reportUnknownVariableType]
    optional=True,
)


def _callable(value: object) -> bool:
    """`callable` without type narrowing: user objects stay `Any` for the checker."""
    return callable(value)


def _has(value: Any, method: str) -> bool:
    return not isinstance(value, (str, bytes)) and _callable(getattr(value, method, None))


def _call_problem(fn: Any, call: tuple[str, int] | None) -> str | None:
    """Why `fn` cannot be called with `call`'s number of positional arguments, or None."""
    if call is None:
        return None
    shape, count = call
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): trust it
        return None
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return f"must be callable as {shape}; its signature is {signature}"
    return None


def callable_as(shape: str, count: int, *, optional: bool = False) -> Check:
    """A callable taking `count` positional arguments, described by `shape`."""
    kind = f"a callable {shape}" + (" or None" if optional else "")

    def problem(value: Any) -> str | None:
        if optional and value is None:
            return None
        if not _callable(value):
            return f"must be {kind}"
        return _call_problem(value, (shape, count))

    return Check(kind, problem)


def _evaluator(value: Any) -> str | None:
    if _has(value, "evaluate_batch"):
        return None
    if not _callable(value):
        return "must be a callable fn(candidate, example) -> float | Score"
    return _call_problem(value, ("fn(candidate, example)", 2))


def strategy(
    names: Iterable[str],
    *,
    method: str | None,
    allow_callable: bool,
    optional: bool = False,
    call: tuple[str, int] | None = None,
) -> Check:
    """A name of `names`, an object with `method`, or (if allowed) a callable.

    `call`: the shape a callable is called with and how many positional arguments.
    """
    known = tuple(names)
    parts = [f"one of {', '.join(repr(n) for n in known)}"] if known else []
    if method is not None:
        parts.append(f"an object with {method}()")
    if allow_callable:
        parts.append("a callable")
    if optional:
        parts.append("None")
    kind = " or ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + " or " + parts[-1]
    toml_kind = f"one of {', '.join(repr(n) for n in known)}" if known else kind

    def problem(value: Any) -> str | None:
        if (optional and value is None) or (isinstance(value, str) and value in known):
            return None
        if isinstance(value, str):
            close = difflib.get_close_matches(value, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"must be {kind}{hint}"
        if method is not None and _has(value, method):
            return None
        if allow_callable and _callable(value):
            return _call_problem(value, call)
        return f"must be {kind}"

    return Check(kind, problem, toml_kind)


def template_problem(template: str) -> str | None:
    """What is wrong with a reflection template's placeholders, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as error:
        return f"is not a valid template ({error}; write literal braces as {{{{ and }}}})"
    allowed = ", ".join("{" + p + "}" for p in sorted(TEMPLATE_PLACEHOLDERS))
    for field_name in fields:
        if field_name not in TEMPLATE_PLACEHOLDERS:
            return (
                f"has the unknown placeholder {{{field_name}}}; the placeholders are {allowed} "
                "(write literal braces as {{ and }})"
            )
    return None


def _template(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return template_problem(value)
    if isinstance(value, Mapping):
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(key, str) or not isinstance(item, str):
                return "must map component names to template strings"
            found = template_problem(item)
            if found is not None:
                return f"[{key!r}] {found}"
        return None
    return "must be a template string, a dict of component name -> template, or None"


def _sinks(value: Any) -> str | None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return "must be a list of EventSink objects"
    for item in value:  # pyright: ignore[reportUnknownVariableType]
        if not _has(item, "run_started") and not _has(item, "rollout_finished"):
            return f"must be a list of EventSink objects; {item!r} is not one"
    return None


def _seed_candidate(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return "must be a non-empty dict of component name -> text"
    return None  # the texts are checked by gepakit.api (TypeError for a non-string)


def _dataset(*, optional: bool) -> Check:
    def ok(value: Any) -> bool:
        return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))

    return _simple("a list of examples", ok, optional=optional)


def _lm(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value) or _has(value, "complete"):
        return None
    if _callable(value) and not isinstance(value, str):
        return _call_problem(value, ("fn(prompt) -> reply", 1))
    return "must be a model name, an LM object or a callable prompt -> reply"


REQUIRED: Any = object()
"""The default of a required option (`seed_candidate`, `trainset`, `evaluator`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One option of `gepakit.optimize`."""

    name: str
    group: Group
    default: Any
    check: Check
    doc: str
    toml: bool = True
    """Settable in a TOML run config (a value TOML can write: no callables or objects)."""
    hint: str = ""
    """Appended to the error message, e.g. how to get what the user likely meant."""
    spec_key: str | None = None
    """Its key in the run spec's "search" section (`gepakit.store.spec`): it shapes the
    search, so a resume must give the same value. None: it may change on resume."""

    @property
    def kind(self) -> str:
        """What a valid value is, in words."""
        return self.check.kind

    @property
    def toml_kind(self) -> str:
        """What a valid value is, in a TOML config's words."""
        return (self.check.toml_kind or self.check.kind).removesuffix(" or None")


def _o(name: str, group: Group, default: Any, check: Check, doc: str, **more: Any) -> Option:
    return Option(name=name, group=group, default=default, check=check, doc=doc, **more)


_TEXT_OR_NONE = text(optional=True)

_ROWS = (
    _o(
        "seed_candidate",
        "data",
        REQUIRED,
        Check("a non-empty dict of component name -> text", _seed_candidate),
        "Component name -> starting text.",
        toml=False,
    ),
    _o(
        "trainset",
        "data",
        REQUIRED,
        _dataset(optional=False),
        "Examples for reflection minibatches.",
        toml=False,
    ),
    _o(
        "valset",
        "data",
        None,
        _dataset(optional=True),
        "Examples for scoring candidates; default: the trainset (with a warning).",
        toml=False,
    ),
    _o(
        "evaluator",
        "execution",
        REQUIRED,
        Check("a callable fn(candidate, example) -> float | Score", _evaluator),
        "fn(candidate, example) -> float | Score; may be async.",
        toml=False,
    ),
    _o(
        "reflection_lm",
        "reflection",
        None,
        Check("a model name, an LM object, a callable prompt -> reply, or None", _lm),
        'Model that rewrites the texts: a name ("local", "openai/gpt-4o-mini"), an LM or '
        "a callable.",
    ),
    _o(
        "instruction_proposer",
        "reflection",
        None,
        strategy(
            (),
            method="propose",
            allow_callable=True,
            optional=True,
            call=("fn(candidate, reflective_dataset, components)", 3),
        ),
        "fn(candidate, reflective_dataset, components) -> dict replacing the reflection.",
        toml=False,
    ),
    _o(
        "max_metric_calls",
        "budget",
        None,
        integer(1, optional=True),
        "Budget in rollouts (metric calls). Give exactly one of max_metric_calls, auto, "
        "max_full_evals.",
    ),
    _o(
        "auto",
        "budget",
        None,
        strategy(AUTO_BUDGETS, method=None, allow_callable=False, optional=True),
        "Budget preset (DSPy's formula).",
    ),
    _o(
        "max_full_evals",
        "budget",
        None,
        integer(1, optional=True),
        "Budget in full passes over train + val.",
    ),
    _o(
        "reflection_minibatch_size",
        "reflection",
        3,
        integer(1),
        "Train examples per reflection step.",
        spec_key="minibatch_size",
    ),
    _o(
        "candidate_selection_strategy",
        "search",
        "pareto",
        strategy(
            CANDIDATE_SELECTORS,
            method="select",
            allow_callable=True,
            call=("fn(candidates, aggregate_scores, rng) -> index", 3),
        ),
        "How the parent of a proposal is chosen.",
        spec_key="candidate_selector",
    ),
    _o(
        "top_k",
        "search",
        5,
        integer(1),
        "Candidates (best mean val score first) that top_k_pareto selection samples among.",
    ),
    _o(
        "component_selector",
        "reflection",
        "round_robin",
        strategy(
            COMPONENT_SELECTORS,
            method="select",
            allow_callable=True,
            call=("fn(candidate, rollouts) -> names", 2),
        ),
        "Which components a proposal rewrites.",
        spec_key="component_selector",
    ),
    _o(
        "skip_perfect_score",
        "search",
        True,
        BOOL,
        "Skip reflection on a minibatch where every score is perfect_score.",
        spec_key="skip_perfect_score",
    ),
    _o(
        "perfect_score",
        "search",
        1.0,
        number(),
        "The best score an example can get.",
        spec_key="perfect_score",
    ),
    _o(
        "failure_score",
        "execution",
        0.0,
        number(),
        "Score of a rollout whose evaluator raised or returned NaN.",
        spec_key="failure_score",
    ),
    _o(
        "raise_on_exception",
        "execution",
        False,
        BOOL,
        "Stop the run when the evaluator raises, instead of scoring failure_score.",
    ),
    _o(
        "use_merge",
        "search",
        True,
        BOOL,
        "Try merges of two lineages (no LM call).",
        spec_key="use_merge",
    ),
    _o(
        "max_merge_invocations",
        "search",
        5,
        integer(0),
        "Most merged candidates a run adds. A merge that fails its test on the "
        "subsample does not count; the next merge then waits for a new candidate.",
        hint=" (turn merge off with use_merge=False)",
        spec_key="max_merge_invocations",
    ),
    _o(
        "merge_subsample_size",
        "search",
        5,
        integer(1),
        "Val examples a merged candidate is first scored on.",
        spec_key="merge_subsample_size",
    ),
    _o(
        "merge_val_overlap_floor",
        "search",
        5,
        integer(1),
        "Two candidates merge only when scored on this many common val examples.",
        spec_key="merge_val_overlap_floor",
    ),
    _o(
        "frontier_type",
        "search",
        "instance",
        strategy(FRONTIER_TYPES, method=None, allow_callable=False),
        "Pareto frontier keys: per val example, per objective, both, or per pair.",
        spec_key="frontier_type",
    ),
    _o(
        "val_evaluation_policy",
        "search",
        "full",
        strategy(VAL_POLICIES, method="next_ids", allow_callable=False),
        "Which val examples a new candidate is scored on (full, subsample, progressive).",
        spec_key="val_evaluation_policy",
    ),
    _o(
        "batch_sampler",
        "reflection",
        "epoch",
        strategy(
            BATCH_SAMPLERS,
            method="next_batch",
            allow_callable=True,
            call=("fn(train_ids, rng) -> ids", 2),
        ),
        "How reflection minibatches are drawn; default: epoch-shuffled.",
        spec_key="batch_sampler",
    ),
    _o(
        "eval_repeats",
        "search",
        1,
        integer(1),
        "Evaluate each (candidate, example) this many times and score the mean (noisy "
        "evaluators); every draw is a metric call.",
        spec_key="eval_repeats",
    ),
    _o(
        "reuse_evaluations",
        "search",
        True,
        BOOL,
        "Serve a (candidate, example) evaluated before from the evaluation cache; off: "
        "evaluate it again each time it is asked for (gepa's cache_evaluation).",
        spec_key="reuse_evaluations",
    ),
    _o(
        "acceptance",
        "search",
        "improvement",
        strategy(ACCEPTANCES, method="decide", allow_callable=False),
        "When a child beats its parent on the minibatch.",
        spec_key="acceptance",
    ),
    _o(
        "track_best_outputs",
        "search",
        False,
        BOOL,
        "Keep the outputs of the best candidates per val example.",
        spec_key="track_best_outputs",
    ),
    _o(
        "reflection_prompt_template",
        "reflection",
        None,
        Check(
            "a template string, a dict of component name -> template, or None",
            _template,
            "a template string, or a table of component name = template",
        ),
        "The reflection prompt; placeholders {component} {current_text} {examples} "
        "{rejected} {format_hints} {length_budget}.",
    ),
    _o(
        "reflection_style",
        "reflection",
        "auto",
        strategy(REFLECTION_STYLES, method=None, allow_callable=False),
        "How reflection prompts and replies are handled: 'general' (capable models), "
        "'compact' (small local models), 'auto': compact for local/... models.",
    ),
    _o(
        "reflection_lm_kwargs",
        "reflection",
        None,
        MAPPING,
        "Sampling params of every reflection call (temperature, max_tokens, ...).",
        toml=False,
    ),
    _o(
        "max_text_chars",
        "reflection",
        None,
        integer(1, optional=True),
        "Length budget of proposed texts (stated in the prompt; longer texts are rejected).",
    ),
    _o(
        "max_error_rate",
        "run",
        DEFAULT_MAX_ERROR_RATE,
        _simple(
            "a number from 0 to 1",
            lambda v: _is_number(v) and 0 <= v <= 1,
            optional=True,
        ),
        "Stop with an error when a larger share of a minibatch or val evaluation fails "
        "(raises or NaN); None never stops.",
    ),
    _o(
        "seed",
        "search",
        0,
        _simple("an integer", _is_int, optional=True),
        "Seed of the optimizer's random choices; None draws one and records it in the run.",
        spec_key="seed",
    ),
    _o("workers", "execution", 1, integer(1), "Rollouts running at once."),
    _o(
        "max_concurrent_proposals",
        "execution",
        1,
        integer(1),
        "Most proposals in flight at once (fewer while most proposals are accepted or "
        "the proposer rewrites whole texts).",
        spec_key="max_concurrent_proposals",
    ),
    _o(
        "executor",
        "execution",
        None,
        strategy(EXECUTORS, method="submit", allow_callable=False, optional=True),
        "Where rollouts run; default: inline, a thread pool, or asyncio for async evaluators.",
    ),
    _o(
        "run_dir",
        "run",
        None,
        PATH,
        "Persist the run there (SQLite); the same run_dir again resumes it.",
    ),
    _o("cache", "run", None, PATH, "A shared evaluation cache file."),
    _o(
        "evaluator_id",
        "run",
        None,
        _TEXT_OR_NONE,
        "Names the evaluator in the store and cache; default: its qualified name.",
    ),
    _o(
        "timeout",
        "stop",
        None,
        number(positive=True, optional=True),
        "Stop after this many seconds; no valset pass starts after it and LM retries "
        "do not wait past it.",
    ),
    _o(
        "stop_after_no_improvement",
        "stop",
        None,
        integer(1, optional=True),
        "Stop after this many proposals without a new best.",
    ),
    _o(
        "score_threshold",
        "stop",
        None,
        number(optional=True),
        "Stop when the best val score reaches this.",
    ),
    _o(
        "max_cost_usd",
        "stop",
        None,
        number(positive=True, optional=True),
        "Stop once the LM usage ledger reaches this many US dollars.",
    ),
    _o(
        "max_reflection_cost",
        "stop",
        None,
        number(positive=True, optional=True),
        "gepa's name for max_cost_usd.",
    ),
    _o(
        "max_reflection_calls",
        "stop",
        None,
        integer(1, optional=True),
        "Stop after this many reflection LM calls.",
    ),
    _o(
        "stop_callback",
        "stop",
        None,
        callable_as("fn(view) -> bool", 1, optional=True),
        "fn(view) -> bool; True stops the run.",
        toml=False,
    ),
    _o(
        "callbacks",
        "run",
        (),
        Check("a list of EventSink objects", _sinks),
        "EventSinks notified of the run's events.",
        toml=False,
    ),
    _o(
        "progress",
        "run",
        None,
        _simple("True or False", lambda v: isinstance(v, bool), optional=True),
        "Live progress; None: only when stderr is a terminal.",
        toml=False,
    ),
    _o("use_mlflow", "tracking", False, BOOL, "Log the run to MLflow (extra mlflow)."),
    _o("mlflow_tracking_uri", "tracking", None, _TEXT_OR_NONE, "MLflow tracking URI."),
    _o("mlflow_experiment_name", "tracking", None, _TEXT_OR_NONE, "MLflow experiment name."),
    _o("use_wandb", "tracking", False, BOOL, "Log the run to W&B (extra wandb)."),
    _o("wandb_init_kwargs", "tracking", None, MAPPING, "Keyword arguments of wandb.init."),
    _o(
        "store",
        "run",
        None,
        strategy((), method="put_rollout", allow_callable=False, optional=True),
        "A RunStore object instead of run_dir (advanced).",
        toml=False,
    ),
    _o("run_metadata", "run", None, MAPPING, "JSON data saved with the run.", toml=False),
    _o(
        "overwrite",
        "run",
        False,
        BOOL,
        "Start over on a used run_dir: the old run is moved to <run_dir>.old-<time>.",
    ),
    _o(
        "api_base",
        "reflection",
        None,
        _TEXT_OR_NONE,
        "Base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp) for a model-name "
        "reflection_lm (in a TOML config also for [program] task_lm).",
    ),
    _o(
        "register_prompt",
        "tracking",
        None,
        _TEXT_OR_NONE,
        "Register the best prompt in MLflow's Prompt Registry under this name "
        "(implies use_mlflow).",
    ),
    _o(
        "quiet",
        "run",
        False,
        BOOL,
        "No progress display and no log lines (warnings still show).",
        toml=False,
    ),
)

OPTIONS: dict[str, Option] = {row.name: row for row in _ROWS}
"""Every option of `gepakit.optimize`, in signature order."""


# -- checking values -----------------------------------------------------------------------


def _shown(value: Any) -> str:
    try:
        text_ = repr(value)
    except Exception:
        text_ = f"<{type(value).__name__}>"
    return text_ if len(text_) <= 80 else text_[:77] + "..."


def check_option(name: str, value: Any, *, label: str | None = None) -> Any:
    """Validate one option by its gepakit name; return the value.

    Args:
        name: the option's name in `OPTIONS`.
        value: the value given.
        label: the name the caller's front door uses (``num_threads`` for ``workers``);
            the error message names it. Default: `name`.

    Raises:
        ConfigError: the value is invalid; the message names the option.
        TypeError: `name` is not an option.
    """
    option = OPTIONS.get(name)
    if option is None:
        raise _unknown(name, "optimize")
    if value is REQUIRED:
        raise ConfigError(f"{label or name} is required")
    found = option.check.problem(value)
    if found is not None:
        raise ConfigError(f"{label or name} {found}{option.hint}, got {_shown(value)}")
    return value


_VALIDATED: ContextVar[Mapping[str, Any] | None] = ContextVar("gepakit_validated", default=None)


@contextmanager
def validated(values: Mapping[str, Any]) -> Iterator[None]:
    """Inside this block `check_options` passes over `values` (gepakit name -> value).

    A front door that validated its options up front under its own names
    (`optimize_kwargs`) calls `gepakit.optimize` inside it, so each option is checked
    once. Only the very object that was validated is passed over: a value the front
    door derived since (another object) is checked as usual.
    """
    token = _VALIDATED.set(dict(values))
    try:
        yield
    finally:
        _VALIDATED.reset(token)


def check_options(values: Mapping[str, Any], *, labels: Mapping[str, str] | None = None) -> None:
    """Validate options by gepakit name (see `check_option`), all before any call is made.

    Values a front door validated already (see `validated`) are not checked again.

    Args:
        values: option name -> value.
        labels: option name -> the name the user wrote, for the error messages.
    """
    done = _VALIDATED.get() or {}
    for name, value in values.items():
        if name not in done or done[name] is not value:
            check_option(name, value, label=(labels or {}).get(name))


def optimize_kwargs(
    values: Mapping[str, Any], *, renames: Mapping[str, str] | None = None, caller: str = "optimize"
) -> dict[str, Any]:
    """Validate a front door's options and return them as `gepakit.optimize` keywords.

    Args:
        values: the front door's option name -> value.
        renames: its name -> gepakit's name where they differ (``{"num_threads": "workers"}``).
        caller: the front door's name, for the unknown-option message.

    Raises:
        ConfigError: an invalid value; the message uses the front door's name.
        TypeError: a name that is no option (with the closest known name).
    """
    renames = renames or {}
    out: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for given, value in values.items():
        name = renames.get(given, given)
        if name not in OPTIONS:
            raise _unknown(given, caller, extra=renames)
        out[name], labels[name] = value, given
    check_options(out, labels=labels)
    return out


def _unknown(name: str, caller: str, extra: Iterable[str] = ()) -> TypeError:
    known = [*OPTIONS, *extra]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return TypeError(f"{caller}() got an unexpected keyword argument {name!r}{hint}")


def names(group: Group) -> list[str]:
    """The option names of one group, in table order."""
    return [o.name for o in OPTIONS.values() if o.group == group]


def _cell(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|")


def _default_text(option: Option) -> str:
    if option.default is REQUIRED:
        return "required"
    return f"`{_cell(repr(option.default))}`"


def markdown_table() -> str:
    """Every option as a Markdown table grouped by concern (for the docs' reference page)."""
    rows = ["| option | group | valid values | default | meaning |", "|---|---|---|---|---|"]
    for group in GROUPS:
        for option in OPTIONS.values():
            if option.group == group:
                rows.append(
                    f"| `{option.name}` | {group} | {_cell(option.kind)} | "
                    f"{_default_text(option)} | {_cell(option.doc)} |"
                )
    return "\n".join(rows)


def resolve_seed(seed: int | None, run_dir: str | os.PathLike[str] | None = None) -> int:
    """The seed a run uses: `seed`; for None, the seed of the run stored in `run_dir`
    (so a run started with seed=None can be resumed), else a new random one.

    Front doors that take ``seed=None`` call this and pass the result on; the seed is
    recorded in the run's spec and in the `Result`.
    """
    if seed is not None:
        return int(seed)
    stored = _stored_seed(run_dir) if run_dir is not None else None
    if stored is not None:
        log.info("seed=None: resuming with the run's stored seed %d", stored)
        return stored
    drawn = secrets.randbelow(2**31)
    log.info("seed=None: drew seed %d (recorded in the result)", drawn)
    return drawn


def _stored_seed(run_dir: str | os.PathLike[str]) -> int | None:
    from pathlib import Path

    from gepakit.store.sqlite import DB_NAME, SQLiteStore  # late: sqlite3 stays unloaded

    if not (Path(run_dir) / DB_NAME).is_file():
        return None
    try:
        with SQLiteStore(Path(run_dir), readonly=True) as stored:
            seed = (stored.meta().get("spec") or {}).get("search", {}).get("seed")
    except Exception:  # an unreadable run: opening it for the run reports why
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
