"""`gepakit.gepa.optimize`: `gepa.optimize`'s signature and defaults, run by gepakit."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

from gepakit.api import optimize as gepakit_optimize
from gepakit.engine.draws import public_id
from gepakit.engine.profiles import make_proposer, resolve_style
from gepakit.engine.protocols import EventSink
from gepakit.engine.reflection import CallableProposer, Proposer
from gepakit.engine.selection import EpsilonGreedySelector
from gepakit.errors import ConfigError
from gepakit.integrations.gepa.adapter import (
    AdapterEvaluator,
    AdapterProposer,
    TemplateProposer,
    check_template,
)
from gepakit.integrations.gepa.default_adapter import TaskLMAdapter, is_named_lm
from gepakit.integrations.gepa.result import GEPAResult, gepa_result
from gepakit.integrations.gepa.state import GEPAStateView, Hooks, StateTracker
from gepakit.integrations.gepa.strategies import (
    CandidateSelectorBridge,
    ComponentSelectorBridge,
    StopperBridge,
    gepa_class,
    native_name,
)
from gepakit.options import (
    OPTIONS,
    CandidateSelectorName,
    ComponentSelectorName,
    gepakit_name,
    optimize_kwargs,
    quoted_choices,
    validated,
)
from gepakit.result import Result
from gepakit.runs import check_not_gepa_run
from gepakit.types import Candidate

log = logging.getLogger("gepakit")

NO_BUDGET = 10**9
"""The metric-call limit when only stoppers end the run (gepa allows no budget)."""

_announced = False


def _announce_once() -> None:
    global _announced
    if _announced:
        return
    _announced = True
    log.info(
        "gepakit.gepa.optimize: max_metric_calls is exact here (never exceeded; gepa may "
        "overspend by up to a minibatch and a valset), so a run can stop a step earlier "
        "than gepa's with the same number"
    )


def _accepts(name: str) -> bool:
    return name in inspect.signature(gepakit_optimize).parameters


def _warn(message: str) -> None:
    warnings.warn(f"gepakit.gepa.optimize: {message}", UserWarning, stacklevel=3)


def _not_supported(option: str, hint: str = "") -> ConfigError:
    return ConfigError(
        f"gepakit.gepa.optimize does not support {option} yet{'; ' + hint if hint else ''}"
    )


class _DataIds:
    """gepa's data ids (list positions or a loader's ids) <-> gepakit example ids."""

    def __init__(self) -> None:
        self.ids: dict[str, Any] = {}

    def wrap(self, data: Any, name: str) -> list[dict[str, Any]]:
        if hasattr(data, "all_ids") and hasattr(data, "fetch"):  # a gepa DataLoader
            keys = list(data.all_ids())
            items = list(data.fetch(keys))
        elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            items = list(data)
            keys = list(range(len(items)))
        else:
            raise ConfigError(f"{name} must be a list of data items or a gepa DataLoader")
        out = []
        for key, item in zip(keys, items, strict=True):
            self.ids[str(key)] = key
            out.append({"id": str(key), "item": item})
        return out

    def __call__(self, example_id: str) -> Any:
        return self.ids.get(example_id, example_id)


class _LazyPromptFn:
    """The reflection LM as ``prompt -> reply``; a model name is resolved by gepakit."""

    def __init__(self, spec: Any, params: Mapping[str, Any]) -> None:
        self.spec = spec
        self.params = dict(params)
        self._fn: Callable[[Any], Any] | None = None
        if not is_named_lm(spec):
            self._fn = spec
        else:
            self.use_ledger(None)

    def use_ledger(self, ledger: Any) -> None:
        """Build the LM with the run's ledger (a callable too, so its calls are counted)."""
        from gepakit.lm.resolve import as_prompt_fn, resolve_lm

        if is_named_lm(self.spec):
            lm = resolve_lm(self.spec, role="reflection", ledger=ledger)
            self._fn = as_prompt_fn(lm, **self.params)
        elif ledger is not None:
            from gepakit.lm.function_lm import FunctionLM

            wrapped = resolve_lm(FunctionLM(self.spec), role="reflection", ledger=ledger)
            self._fn = as_prompt_fn(wrapped)

    @property
    def accepts_images(self) -> bool:
        """Whether the LM takes content parts (see `gepakit.engine.reflection.PromptFn`)."""
        return bool(getattr(self._fn, "accepts_images", False))

    def __call__(self, prompt: Any) -> Any:
        assert self._fn is not None
        return self._fn(prompt)


class _ForwardLog(logging.Handler):
    """Sends gepakit's log lines to a gepa `LoggerProtocol` (``.log(message)``)."""

    def __init__(self, target: Any) -> None:
        super().__init__(logging.INFO)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.target.log(record.getMessage())
        except Exception:
            self.handleError(record)


@contextmanager
def _forward_logs(logger: Any) -> Iterator[None]:
    if logger is None:
        yield
        return
    if not callable(getattr(logger, "log", None)):
        raise ConfigError("logger must have a log(message) method (gepa's LoggerProtocol)")
    handler = _ForwardLog(logger)
    target = logging.getLogger("gepakit")
    old_level = target.level
    target.addHandler(handler)
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    try:
        yield
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)


def _active_adapter(adapter: Any, task_lm: Any, evaluator: Any) -> Any:
    if adapter is None:
        if task_lm is None:
            raise ConfigError(
                "give adapter= (a GEPAAdapter) or task_lm= (a model name or callable)"
            )
        return TaskLMAdapter(task_lm, evaluator)
    if task_lm is not None or evaluator is not None:
        raise ConfigError(
            "task_lm= and evaluator= are for gepa's default adapter; with adapter= leave "
            "them None (the adapter runs the task and scores it)"
        )
    for method in ("evaluate", "make_reflective_dataset"):
        if not callable(getattr(adapter, method, None)):
            raise ConfigError(f"adapter must have {method}() (gepa's GEPAAdapter protocol)")
    return adapter


def _stoppers(stop_callbacks: Any, run_dir: str | None) -> list[Any]:
    if stop_callbacks is None:
        found: list[Any] = []
    elif isinstance(stop_callbacks, Sequence) and not isinstance(stop_callbacks, str):
        found = list(stop_callbacks)
    else:
        found = [stop_callbacks]
    for s in found:
        if not callable(s):
            raise ConfigError(f"stop_callbacks must be callables state -> bool, got {s!r}")
    if run_dir is not None:
        found.append(_StopFile(Path(run_dir) / "gepa.stop"))
    return found


class _StopFile:
    """gepa's automatic stopper for ``run_dir/gepa.stop`` (gepakit's ``STOP`` also works)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, state: Any) -> bool:
        return self.path.exists()


def _budget(max_metric_calls: int | None, stoppers: list[Any], extra: dict[str, Any]) -> int:
    """The exact metric-call limit; gepa budget stoppers become gepakit budgets."""
    limit = max_metric_calls
    rest = []
    for s in stoppers:
        kind = gepa_class(s)
        if kind == "MaxMetricCallsStopper":
            limit = s.max_metric_calls if limit is None else min(limit, s.max_metric_calls)
        elif kind == "MaxReflectionCostStopper":
            _cost_limit(s.max_reflection_cost_usd, extra)
        else:
            rest.append(s)
    stoppers[:] = rest
    if limit is None:
        if not stoppers and "max_cost_usd" not in extra and "max_reflection_cost" not in extra:
            raise ConfigError(
                "give at least one of max_metric_calls, stop_callbacks or "
                "max_reflection_cost to say when to stop"
            )
        return NO_BUDGET
    return limit


def _cost_limit(value: float, extra: dict[str, Any]) -> None:
    for name in ("max_cost_usd", "max_reflection_cost"):
        if _accepts(name):
            extra[name] = value
            return
    raise _not_supported("max_reflection_cost", "use max_metric_calls or a stopper")


def _candidate_selection(strategy: Any, hooks: Hooks, extra: dict[str, Any]) -> Any:
    if isinstance(strategy, str):
        return strategy
    name = native_name(strategy)
    if name is not None:
        return name
    kind = gepa_class(strategy)
    if kind == "EpsilonGreedyCandidateSelector":
        return EpsilonGreedySelector(strategy.epsilon)
    if kind == "TopKParetoCandidateSelector" and _accepts("top_k"):
        extra["top_k"] = strategy.k
        return "top_k_pareto"
    if callable(getattr(strategy, "select_candidate_idx", None)):
        assert hooks.view is not None
        return CandidateSelectorBridge(strategy, hooks.view, hooks.start_iteration)
    raise ConfigError(
        f"candidate_selection_strategy must be {quoted_choices(CandidateSelectorName)} or a "
        f"gepa CandidateSelector (select_candidate_idx(state) -> int), got {strategy!r}"
    )


def _module_selection(selector: Any, hooks: Hooks) -> Any:
    if isinstance(selector, str):
        if selector not in get_args(ComponentSelectorName):
            raise ConfigError(
                f"module_selector must be {quoted_choices(ComponentSelectorName)} or a "
                f"selector, got {selector!r}"
            )
        return selector
    name = native_name(selector)
    if name is not None:
        return name
    if callable(selector):
        assert hooks.view is not None
        return ComponentSelectorBridge(selector, hooks.view, hooks.start_iteration)
    raise ConfigError(
        "module_selector must be a name or a callable (state, trajectories, "
        f"subsample_scores, candidate_idx, candidate) -> list[str], got {selector!r}"
    )


def _acceptance(criterion: Any) -> Any:
    if criterion in ("strict_improvement", "improvement_or_equal"):  # gepa's names
        return gepakit_name(criterion)
    if hasattr(criterion, "decide"):
        return criterion
    raise _not_supported(
        f"acceptance_criterion={criterion!r}",
        "use 'strict_improvement', 'improvement_or_equal', or an object with "
        "decide(parent_scores, child_scores) -> (bool, reason)",
    )


def _proposer(
    active: Any,
    reflection_lm: Any,
    reflection_lm_kwargs: Mapping[str, Any] | None,
    template: str | Mapping[str, str] | None,
    custom: Any,
    seed_candidate: Mapping[str, str],
) -> tuple[Proposer, list[Any]]:
    """The inner proposer (texts from a reflective dataset) and the LMs needing a ledger."""
    own: Any = getattr(active, "propose_new_texts", None)
    if own is not None:
        if custom is not None:
            raise ConfigError(
                "the adapter has propose_new_texts; custom_candidate_proposer cannot be "
                "given too (use one of them)"
            )
        if template is not None:
            raise ConfigError(
                "the adapter has propose_new_texts, which would ignore "
                "reflection_prompt_template; leave it None"
            )
        return CallableProposer(own), []
    if custom is not None:
        if not callable(custom):
            raise ConfigError("custom_candidate_proposer must be a callable")
        fn: Any = custom
        return CallableProposer(fn), []
    if reflection_lm is None:
        raise ConfigError(
            "reflection_lm is required: the adapter has no propose_new_texts and no "
            "custom_candidate_proposer was given"
        )
    named = is_named_lm(reflection_lm)
    if not (named or callable(reflection_lm)):
        raise ConfigError(
            "reflection_lm must be a model name, an LM or a callable prompt -> str, "
            f"got {type(reflection_lm).__name__}"
        )
    if reflection_lm_kwargs and not named:
        _warn("reflection_lm_kwargs is ignored for a callable reflection_lm (as in gepa)")
    prompt_fn = _LazyPromptFn(reflection_lm, reflection_lm_kwargs or {})
    # The built-in reflection, with gepakit's rule for the profile (compact for local models).
    base: Proposer = make_proposer(resolve_style("auto", reflection_lm), prompt_fn)
    if template is not None:
        check_template(template, list(seed_candidate))
        base = TemplateProposer(prompt_fn, template, base)
    return base, [prompt_fn]


def _ignored_options(opts: Mapping[str, Any], extra: dict[str, Any]) -> None:
    """Options with no gepakit meaning: passed on when `gepakit.optimize` has them."""
    if opts["use_cloudpickle"]:
        _warn("use_cloudpickle has no effect: gepakit stores JSON records, never a pickle")
    if opts["wandb_api_key"] is not None:
        _warn("wandb_api_key is not used: log in with `wandb login` or set WANDB_API_KEY")
    defaults = {
        "wandb_attach_existing": False,
        "mlflow_attach_existing": False,
        "tracking_key_prefix": "",
        "merge_val_overlap_floor": 5,
    }
    for name, default in defaults.items():
        value = opts[name]
        if value == default:
            continue
        if _accepts(name):
            extra[name] = value
        elif name == "merge_val_overlap_floor":
            _warn("merge_val_overlap_floor has no effect: every candidate gets the full valset")
        else:
            _warn(f"{name} is not supported yet and is ignored")


def _search_options(opts: Mapping[str, Any], extra: dict[str, Any]) -> int | None:
    """frontier_type, val_evaluation_policy, batch_sampler, strategies; returns minibatch."""
    # gepa's defaults (one parent, one mutation per iteration) are gepakit's way too.
    defaults = {"SingleMutationSampling", "AllImprovements"}
    for name in ("sampling_strategy", "selection_strategy"):
        value = opts[name]
        if value is not None and gepa_class(value) not in defaults:
            raise _not_supported(
                name, "gepakit.optimize(max_concurrent_proposals=...) runs proposals in parallel"
            )
    if opts["reflection_strategy"] is not None:
        raise _not_supported(
            "reflection_strategy", "give reflection_lm or custom_candidate_proposer instead"
        )
    if opts["frontier_type"] != OPTIONS["frontier_type"].default:
        if not _accepts("frontier_type"):
            raise _not_supported(f"frontier_type={opts['frontier_type']!r}")
        extra["frontier_type"] = opts["frontier_type"]
    policy = gepakit_name(opts["val_evaluation_policy"])
    if policy not in (None, OPTIONS["val_evaluation_policy"].default):
        if gepa_class(policy) is not None or not _accepts("val_evaluation_policy"):
            raise _not_supported(
                f"val_evaluation_policy={policy!r}", "every candidate gets the full valset"
            )
        extra["val_evaluation_policy"] = policy
    size = opts["reflection_minibatch_size"]
    sampler = opts["batch_sampler"]
    if sampler == "epoch_shuffled":
        return size
    if size is not None:
        raise ConfigError(
            "reflection_minibatch_size is only accepted with batch_sampler='epoch_shuffled'"
        )
    if gepa_class(sampler) == "EpochShuffledBatchSampler":
        return int(sampler.minibatch_size)
    if not _accepts("batch_sampler") or gepa_class(sampler) is not None:
        raise _not_supported(f"batch_sampler={sampler!r}")
    extra["batch_sampler"] = sampler
    return None


SHARED_OPTIONS = (
    "seed_candidate",
    "reflection_lm",
    "skip_perfect_score",
    "perfect_score",
    "use_merge",
    "max_merge_invocations",
    "max_metric_calls",
    "run_dir",
    "use_wandb",
    "wandb_init_kwargs",
    "use_mlflow",
    "mlflow_tracking_uri",
    "mlflow_experiment_name",
    "track_best_outputs",
    "display_progress_bar",
    "seed",
    "raise_on_exception",
    "cache_evaluation",
)
"""gepa.optimize's options that mean what gepakit.optimize's do (under other names in
`RENAMES`): validated once, up front, by `gepakit.options` with gepa's names in the errors."""

RENAMES = {
    "display_progress_bar": "progress",
    # gepa's default, cache_evaluation=False, evaluates a parent's minibatch again each
    # time; True serves (candidate, example) pairs evaluated before for free.
    "cache_evaluation": "reuse_evaluations",
}
"""gepa's names of the `SHARED_OPTIONS` that gepakit.optimize calls otherwise."""

PASSED_ON = (
    "skip_perfect_score",
    "perfect_score",
    "raise_on_exception",
    "use_merge",
    "max_merge_invocations",
    "track_best_outputs",
    "seed",
    "run_dir",
    "progress",
    "reuse_evaluations",
)
"""The validated shared options always passed on to gepakit.optimize (by gepakit's name)."""


def _check_shapes(reflection_lm_kwargs: Any, callbacks: Any) -> None:
    if reflection_lm_kwargs is not None and not isinstance(reflection_lm_kwargs, Mapping):
        raise ConfigError(
            "reflection_lm_kwargs must be a dict of sampling params or None, "
            f"got {type(reflection_lm_kwargs).__name__}"
        )
    if callbacks is not None and (
        isinstance(callbacks, (str, bytes, Mapping)) or not isinstance(callbacks, Iterable)
    ):
        raise ConfigError(
            f"callbacks must be a list of GEPACallback objects, got {type(callbacks).__name__}"
        )


def optimize(
    seed_candidate: dict[str, str],
    trainset: Any,
    valset: Any = None,
    adapter: Any = None,
    task_lm: Any = None,
    evaluator: Any = None,
    reflection_lm: Any = None,
    reflection_lm_kwargs: dict[str, Any] | None = None,
    candidate_selection_strategy: Any = "pareto",
    frontier_type: str = "instance",
    skip_perfect_score: bool = True,
    batch_sampler: Any = "epoch_shuffled",
    reflection_minibatch_size: int | None = None,
    perfect_score: float = 1.0,
    reflection_prompt_template: str | dict[str, str] | None = None,
    custom_candidate_proposer: Any = None,
    module_selector: Any = "round_robin",
    use_merge: bool = False,
    max_merge_invocations: int = 5,
    merge_val_overlap_floor: int = 5,
    max_metric_calls: int | None = None,
    max_reflection_cost: float | None = None,
    stop_callbacks: Any = None,
    logger: Any = None,
    run_dir: str | None = None,
    callbacks: list[Any] | None = None,
    use_wandb: bool = False,
    wandb_api_key: str | None = None,
    wandb_init_kwargs: dict[str, Any] | None = None,
    wandb_attach_existing: bool = False,
    use_mlflow: bool = False,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_attach_existing: bool = False,
    tracking_key_prefix: str = "",
    track_best_outputs: bool = True,
    display_progress_bar: bool = False,
    use_cloudpickle: bool = False,
    cache_evaluation: bool = False,
    seed: int = 0,
    raise_on_exception: bool = True,
    val_evaluation_policy: Any = None,
    acceptance_criterion: Any = "strict_improvement",
    sampling_strategy: Any = None,
    selection_strategy: Any = None,
    reflection_strategy: Any = None,
) -> GEPAResult:
    """`gepa.optimize` with gepakit's engine: same parameters, same defaults.

    Change ``import gepa`` to ``import gepakit.gepa as gepa`` (or
    ``from gepakit.gepa import optimize``). A `GEPAAdapter` is used unchanged:
    ``evaluate(batch, candidate, capture_traces)`` is called once per minibatch or
    valset (traces for minibatches), ``make_reflective_dataset`` once per proposal,
    ``propose_new_texts`` when the adapter has one. ``task_lm=`` (a model name gepakit
    resolves, or a callable ``messages -> str``) runs gepa's default adapter
    behaviour on ``{"input", "answer", "additional_context"}`` items.

    Differences from gepa, on purpose:

    - ``max_metric_calls`` is exact: a step is started only when the budget covers
      it, so the run never uses one call more (gepa checks between iterations and
      may overspend by up to a minibatch and a valset). A very small budget may
      therefore end before gepa's first proposal.
    - Evaluation errors with ``raise_on_exception=False`` score the whole batch 0.0
      and the run goes on; with True (the default) they abort with `EvaluatorError`.
    - ``run_dir`` holds a gepakit run (SQLite, resumable with the same call); a
      run_dir written by gepa is refused with a clear `ConfigError`. Creating
      ``run_dir/gepa.stop`` (or ``STOP``) stops the run gracefully.
    - gepa stoppers are checked before each iteration with a state-like object
      (``i``, ``program_candidates``, ``program_full_scores_val_set``,
      ``total_num_evals`` ...); ``MaxMetricCallsStopper`` becomes the exact budget.
    - `GEPACallback` hooks are called where gepakit has the matching event
      (see `gepakit.integrations.gepa.state.CALLED_HOOKS`); ``on_state_saved`` and
      ``on_pareto_front_updated`` are never called. A failing callback is logged.
      As in gepa, ``on_evaluation_*`` cover minibatch evaluations (val ones give
      ``on_valset_evaluated``) and ``on_budget_updated`` comes once per evaluation.
    - ``cache_evaluation`` is gepakit's ``reuse_evaluations``: with False (gepa's
      default) a (candidate, example) pair is evaluated again each time it is asked
      for (a parent's minibatch costs metric calls every proposal); with True it is
      served from the run's rollouts for free. Either way a resumed run replays
      exactly (each evaluation is stored under its own draw number).
    - Options gepa users pass as objects are read through a state-like object;
      stoppers and selectors see ``i``, ``program_candidates``,
      ``program_full_scores_val_set``, ``prog_candidate_val_subscores``,
      ``get_pareto_front_mapping()``, ``total_num_evals`` and the round-robin
      pointers, not gepa's full `GEPAState`.
    - Not supported (clear `ConfigError`): ``sampling_strategy``,
      ``selection_strategy``, ``reflection_strategy``, gepa ``EvaluationPolicy`` and
      `AcceptanceCriterion` objects, and options gepakit.optimize does not have yet
      (``frontier_type`` other than "instance", ``max_reflection_cost``, custom
      ``batch_sampler``). Ignored with a warning: ``use_cloudpickle``,
      ``wandb_api_key``, ``merge_val_overlap_floor``.

    Returns:
        A `GEPAResult` with gepa's fields and methods (val keys are gepa's data
        ids: list positions); ``.gepakit_result`` holds gepakit's full `Result`.

    Raises:
        ConfigError: invalid or unsupported options, before any LM call.
        EvaluatorError: the adapter raised and ``raise_on_exception`` is True.
    """
    opts = dict(locals())
    _announce_once()
    if not seed_candidate:
        raise ConfigError("seed_candidate must contain at least one component text.")
    shared = optimize_kwargs(
        {name: opts[name] for name in SHARED_OPTIONS},
        renames=RENAMES,
        caller="gepakit.gepa.optimize",
    )
    _check_shapes(reflection_lm_kwargs, callbacks)
    if run_dir is not None:
        check_not_gepa_run(run_dir)
    active = _active_adapter(adapter, task_lm, evaluator)
    ids = _DataIds()
    train = ids.wrap(trainset, "trainset")
    val = ids.wrap(valset, "valset") if valset is not None else train
    if isinstance(active, TaskLMAdapter):
        TaskLMAdapter.check_data([t["item"] for t in train], "trainset")
        TaskLMAdapter.check_data([v["item"] for v in val], "valset")
    extra: dict[str, Any] = {}
    minibatch = _search_options(opts, extra)
    _ignored_options(opts, extra)
    if max_reflection_cost is not None:
        _cost_limit(max_reflection_cost, extra)
    stoppers = _stoppers(stop_callbacks, run_dir)
    limit = _budget(max_metric_calls, stoppers, extra)

    view = GEPAStateView(seed_candidate, ids)
    gepa_callbacks = [c for c in callbacks or () if not isinstance(c, EventSink)]
    sinks = [c for c in callbacks or () if isinstance(c, EventSink)]
    hooks = Hooks(gepa_callbacks, view)
    tracker = StateTracker(
        view,
        hooks,
        {"perfect_score": perfect_score, "seed": seed, "track_best_outputs": track_best_outputs},
    )
    tracker.seed = dict(seed_candidate)
    bridge = AdapterEvaluator(active, raise_on_exception=raise_on_exception, hooks=hooks)
    inner, ledger_users = _proposer(
        active,
        reflection_lm,
        reflection_lm_kwargs,
        reflection_prompt_template,
        custom_candidate_proposer,
        seed_candidate,
    )
    bridge.ledger_users = ledger_users
    proposer = AdapterProposer(active, bridge, inner, hooks)
    if stoppers:
        extra["stop_callback"] = StopperBridge(stoppers, view)
    if use_wandb or use_mlflow:
        extra.update(
            use_wandb=use_wandb,
            wandb_init_kwargs=wandb_init_kwargs,
            use_mlflow=use_mlflow,
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_experiment_name=mlflow_experiment_name,
        )
    # gepakit.optimize checks only what was not validated above: the limit when it came
    # from a stopper, the minibatch size (named the same in both) and the bridges.
    with _forward_logs(logger), validated(shared):
        result = gepakit_optimize(
            seed_candidate,
            train,
            val,
            evaluator=bridge,
            instruction_proposer=proposer,
            candidate_selection_strategy=_candidate_selection(
                candidate_selection_strategy, hooks, extra
            ),
            component_selector=_module_selection(module_selector, hooks),
            acceptance=_acceptance(acceptance_criterion),
            callbacks=[tracker, *sinks],
            max_metric_calls=limit,
            reflection_minibatch_size=3 if minibatch is None else minibatch,
            **{name: shared[name] for name in PASSED_ON},
            **extra,
        )
    return gepa_result(result, ids, _val_objectives(result, tracker, run_dir))


def _val_objectives(
    result: Result, tracker: StateTracker, run_dir: str | None
) -> dict[int, list[dict[str, float]]]:
    """Candidate index -> objective scores of its val rollouts (from the store if resumed)."""
    table = dict(tracker.val_objectives)
    if run_dir is not None:
        from gepakit.store.sqlite import SQLiteStore

        table = {}
        with SQLiteStore(run_dir, readonly=True) as store:
            for _, r in store.rollouts():  # the latest draw of a pair wins, as in the run
                if r.split == "val" and r.objectives:
                    table.setdefault(r.candidate_id, {})[public_id(r.example_id)] = dict(
                        r.objectives
                    )
    return {
        i: list(table.get(Candidate(components=dict(c)).id, {}).values())
        for i, c in enumerate(result.candidates)
    }
