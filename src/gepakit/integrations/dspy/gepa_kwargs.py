"""dspy.GEPA's `gepa_kwargs`: each documented key mapped to gepakit's option, or explained.

dspy.GEPA hands `gepa_kwargs` to ``gepa.optimize``. Here each key becomes the
`gepakit.optimize` keyword with the same meaning; a key with no meaning for gepakit
(`use_cloudpickle`: gepakit never pickles) is accepted with one warning; a key gepakit
cannot honour raises `ConfigError` naming what to use instead. Options that newer
gepakit versions add (frontier_type, val_evaluation_policy ...) are passed only when
`gepakit.optimize` has them, else they raise, never silently ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gepakit.engine.protocols import EventSink
from gepakit.engine.stopping import StopView
from gepakit.errors import ConfigError
from gepakit.options import ACCEPTANCES, OPTIONS, gepakit_name

log = logging.getLogger("gepakit.dspy")

StopPredicate = Callable[[StopView], bool]

SET_BY_GEPA = frozenset(
    {
        "seed_candidate",
        "trainset",
        "valset",
        "adapter",
        "task_lm",
        "evaluator",
        "reflection_lm",
        "candidate_selection_strategy",
        "skip_perfect_score",
        "reflection_minibatch_size",
        "perfect_score",
        "module_selector",
        "use_merge",
        "max_merge_invocations",
        "max_metric_calls",
        "run_dir",
        "use_wandb",
        "wandb_api_key",
        "wandb_init_kwargs",
        "track_best_outputs",
        "seed",
        "raise_on_exception",
        "custom_candidate_proposer",
    }
)
"""gepa.optimize keywords that dspy.GEPA sets itself (passing them again is a TypeError
in dspy.GEPA); here they raise with the name of the GEPA argument to use."""

NO_MEANING = {
    "use_cloudpickle": "gepakit stores runs as JSON in SQLite and never pickles",
    "logger": "gepakit logs through the standard `logging` module (logger 'gepakit')",
}
"""Keys accepted with a one-line warning: they have no meaning for gepakit."""


@dataclass
class Translated:
    """`gepa_kwargs` as gepakit options."""

    options: dict[str, Any] = field(default_factory=dict)
    """gepakit.optimize keyword -> value."""
    gepa_stoppers: list[Any] = field(default_factory=list)
    """gepa stoppers (`stop_callbacks`): called with the run's `GEPAStateView`."""
    gepa_callbacks: list[Any] = field(default_factory=list)
    """gepa `GEPACallback` objects (`callbacks`), fired as the gepa front door does."""
    sinks: list[Any] = field(default_factory=list)
    """gepakit `EventSink`s given in `callbacks`."""
    reflection_lm_kwargs: dict[str, Any] | None = None


class _Translator:
    """One handler per documented key (`HANDLERS`); each adds to `out` or raises."""

    def __init__(self, accepted: frozenset[str]) -> None:
        self.accepted = accepted
        self.out = Translated()

    def key(self, key: str, value: Any) -> None:
        if key in SET_BY_GEPA:
            raise ConfigError(
                f"gepa_kwargs[{key!r}] is set by GEPA itself; pass it as a GEPA argument "
                "(component_selector= for module_selector, instruction_proposer= for "
                "custom_candidate_proposer, log_dir= for run_dir)"
            )
        if key in NO_MEANING:
            log.warning("gepa_kwargs[%r] is ignored: %s", key, NO_MEANING[key])
            return
        handler = HANDLERS.get(key)
        if handler is None:
            raise ConfigError(
                f"gepa_kwargs[{key!r}] is not an option of gepa.optimize that gepakit knows; "
                "see gepakit.dspy.GEPA's keyword arguments for gepakit's own options"
            )
        handler(self, key, value)

    def pass_on(self, key: str, name: str, value: Any) -> None:
        """Set gepakit option `name`, or raise when this gepakit's optimize lacks it."""
        if name not in self.accepted:
            raise ConfigError(
                f"gepa_kwargs[{key!r}]={value!r} needs gepakit.optimize({name}=...), which "
                "this version of gepakit does not have yet"
            )
        self.out.options[name] = value

    def pass_unless_default(self, key: str, name: str, value: Any) -> None:
        """gepa's default value is gepakit's too: fine even without the option."""
        value = gepakit_name(value)
        if value != OPTIONS[name].default or name in self.accepted:
            self.pass_on(key, name, value)

    def same_name(self, key: str, value: Any) -> None:
        self.out.options[key] = value

    def template(self, key: str, value: Any) -> None:
        raise ConfigError(
            "reflection_prompt_template cannot be passed via gepa_kwargs (as in dspy.GEPA, "
            "the DSPy proposer writes its own prompt); pass instruction_proposer= to "
            "change how instructions are written"
        )

    def strategy(self, key: str, value: Any) -> None:
        if value is not None:
            raise ConfigError(
                "gepa_kwargs['reflection_strategy'] (a gepa ReflectionLM) is not supported by "
                "gepakit.dspy.GEPA; pass reflection_lm= (a dspy.LM) or instruction_proposer="
            )

    def cost(self, key: str, value: Any) -> None:
        if value is None:
            return
        name = next(
            (n for n in ("max_cost_usd", "max_reflection_cost") if n in self.accepted), None
        )
        if name is None:
            raise ConfigError(
                "gepa_kwargs['max_reflection_cost'] is not supported by this version of "
                "gepakit (no max_cost_usd option yet)"
            )
        self.out.options[name] = value

    def frontier(self, key: str, value: Any) -> None:
        self.pass_unless_default(key, "frontier_type", value)

    def val_policy(self, key: str, value: Any) -> None:
        policy = "full_eval" if value is None else value  # gepa's None: the full valset
        self.pass_unless_default(key, "val_evaluation_policy", policy)

    def sampler(self, key: str, value: Any) -> None:
        self.pass_unless_default(key, "batch_sampler", value)

    def overlap(self, key: str, value: Any) -> None:
        if key in self.accepted:
            self.out.options[key] = value
        elif value != 5:
            log.warning(
                "gepa_kwargs['merge_val_overlap_floor'] is ignored: gepakit evaluates every "
                "candidate on the whole valset, so merge parents always share every val id"
            )

    def acceptance(self, key: str, value: Any) -> None:
        self.out.options["acceptance"] = _acceptance(value)

    def proposal_strategy(self, key: str, value: Any) -> None:
        if value is not None:
            log.warning(
                "gepa_kwargs[%r] is ignored: gepakit runs several proposals at once with "
                "max_concurrent_proposals= and adds every improving one to the pool",
                key,
            )

    def stoppers(self, key: str, value: Any) -> None:
        if value is None:
            return
        many = isinstance(value, Sequence) and not isinstance(value, str)
        items = list(value) if many else [value]
        if not all(callable(s) for s in items):
            raise ConfigError(
                "gepa_kwargs['stop_callbacks'] must be a gepa stopper (stopper(state) -> bool) "
                f"or a list of them, got {value!r}"
            )
        self.out.gepa_stoppers.extend(items)

    def mlflow(self, key: str, value: Any) -> None:  # listed under gepa_kwargs in dspy's docs
        self.out.options["use_mlflow"] = bool(value)

    def tracking(self, key: str, value: Any) -> None:
        if key in self.accepted:
            self.out.options[key] = value
        elif value not in (False, ""):
            raise ConfigError(
                f"gepa_kwargs[{key!r}] is not supported by this version of gepakit's tracking"
            )

    def lm_kwargs(self, key: str, value: Any) -> None:
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"gepa_kwargs['reflection_lm_kwargs'] must be a dict, got {value!r}")
        self.out.reflection_lm_kwargs = dict(value or {})

    def progress(self, key: str, value: Any) -> None:
        self.out.options["progress"] = bool(value)

    def cache(self, key: str, value: Any) -> None:
        """gepa's cache_evaluation is gepakit's reuse_evaluations (False: evaluate a
        (candidate, example) pair again each time, e.g. a parent's minibatch)."""
        from gepakit.options import check_option

        self.out.options["reuse_evaluations"] = check_option(
            "reuse_evaluations", value, label="gepa_kwargs['cache_evaluation']"
        )

    def callbacks(self, key: str, value: Any) -> None:
        if value is not None and (
            isinstance(value, (str, Mapping)) or not isinstance(value, Sequence)
        ):
            raise ConfigError(f"gepa_kwargs['callbacks'] must be a list, got {value!r}")
        for cb in value or ():
            target = self.out.sinks if isinstance(cb, EventSink) else self.out.gepa_callbacks
            target.append(cb)


Handler = Callable[[_Translator, str, Any], None]

HANDLERS: dict[str, Handler] = {
    "reflection_prompt_template": _Translator.template,
    "reflection_strategy": _Translator.strategy,
    "max_reflection_cost": _Translator.cost,
    "frontier_type": _Translator.frontier,
    "val_evaluation_policy": _Translator.val_policy,
    "batch_sampler": _Translator.sampler,
    "merge_val_overlap_floor": _Translator.overlap,
    "acceptance_criterion": _Translator.acceptance,
    "sampling_strategy": _Translator.proposal_strategy,
    "selection_strategy": _Translator.proposal_strategy,
    "stop_callbacks": _Translator.stoppers,
    "use_mlflow": _Translator.mlflow,
    "mlflow_tracking_uri": lambda t, k, v: t.same_name(k, v),
    "mlflow_experiment_name": lambda t, k, v: t.same_name(k, v),
    "wandb_attach_existing": _Translator.tracking,
    "mlflow_attach_existing": _Translator.tracking,
    "tracking_key_prefix": _Translator.tracking,
    "reflection_lm_kwargs": _Translator.lm_kwargs,
    "display_progress_bar": _Translator.progress,
    "cache_evaluation": _Translator.cache,
    "callbacks": _Translator.callbacks,
}
"""gepa_kwargs key -> how gepakit honours it (the keys dspy.GEPA documents, and the rest
of gepa.optimize's that GEPA does not set itself)."""


def _acceptance(value: Any) -> Any:
    if isinstance(value, str) and value in ACCEPTANCES:
        return gepakit_name(value)
    if hasattr(value, "decide"):
        return value
    raise ConfigError(
        "gepa_kwargs['acceptance_criterion'] must be 'strict_improvement' or "
        "'improvement_or_equal' (gepa's AcceptanceCriterion objects are not supported; pass "
        f"acceptance= with a gepakit Acceptance object instead), got {value!r}"
    )


def translate(kwargs: Mapping[str, Any] | None, accepted: frozenset[str]) -> Translated:
    """Map `gepa_kwargs` to gepakit options.

    Args:
        kwargs: dspy.GEPA's `gepa_kwargs`.
        accepted: the keyword names `gepakit.optimize` has.

    Raises:
        ConfigError: a key gepakit cannot honour, with what to use instead.
    """
    translator = _Translator(accepted)
    for key, value in (kwargs or {}).items():
        translator.key(str(key), value)
    return translator.out


def combine_stops(stops: Sequence[StopPredicate]) -> StopPredicate | None:
    """One `stop_callback` that stops when any of `stops` says so."""
    if not stops:
        return None
    if len(stops) == 1:
        return stops[0]
    parts = list(stops)
    return lambda view: any(p(view) for p in parts)
