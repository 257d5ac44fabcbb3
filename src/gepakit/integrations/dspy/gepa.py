"""`GEPA`: a drop-in replacement for ``dspy.GEPA`` running on gepakit's engine."""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import dspy
from dspy.teleprompt.teleprompt import Teleprompter

from gepakit.budgets import budget_limit, candidates_budget, check_budget
from gepakit.engine.protocols import EventSink
from gepakit.errors import ConfigError
from gepakit.integrations.dspy import gepa_kwargs as gepa_kwargs_module
from gepakit.integrations.dspy.evaluator import ProgramEvaluator, task_lms
from gepakit.integrations.dspy.lm import is_local_dspy_lm
from gepakit.integrations.dspy.metric import check_metric
from gepakit.integrations.dspy.programs import (
    ProgramCache,
    build_program,
    example_records,
    predictor_names,
    seed_candidate,
)
from gepakit.integrations.dspy.proposers import DspyProposer, is_builtin_proposer
from gepakit.integrations.dspy.results import detailed_results
from gepakit.integrations.dspy.selectors import (
    check_component_selector,
    needs_gepa_state,
)
from gepakit.integrations.dspy.selectors import component_selector as component_selector_for
from gepakit.integrations.gepa.state import GEPAStateView, Hooks, StateTracker
from gepakit.integrations.gepa.strategies import StopperBridge
from gepakit.lm.usage import UsageLedger
from gepakit.options import CandidateSelectorName, quoted_choices, resolve_seed
from gepakit.result import Result
from gepakit.runs import check_not_gepa_run

log = logging.getLogger("gepakit.dspy")

SET_HERE = frozenset(
    {
        "seed_candidate",
        "trainset",
        "valset",
        "evaluator",
        "reflection_lm",
        "instruction_proposer",
        "max_metric_calls",
        "auto",
        "max_full_evals",
        "reflection_minibatch_size",
        "candidate_selection_strategy",
        "component_selector",
        "skip_perfect_score",
        "perfect_score",
        "failure_score",
        "use_merge",
        "max_merge_invocations",
        "track_best_outputs",
        "seed",
        "workers",
        "max_concurrent_proposals",
        "run_dir",
        "cache",
        "evaluator_id",
        "timeout",
        "stop_after_no_improvement",
        "score_threshold",
        "stop_callback",
        "acceptance",
        "callbacks",
        "use_mlflow",
        "use_wandb",
        "wandb_init_kwargs",
    }
)
"""`gepakit.optimize` keywords `GEPA` sets from its own arguments."""


@functools.cache
def _optimize_params() -> frozenset[str]:
    """The options `gepakit.optimize` has (`gepakit.options.OPTIONS`, its one table)."""
    from gepakit.api import optimize
    from gepakit.options import OPTIONS

    return frozenset(OPTIONS) & frozenset(inspect.signature(optimize).parameters)


def _candidate_names() -> frozenset[str]:
    """The candidate-selection names this gepakit's `optimize` accepts."""
    from gepakit.options import CANDIDATE_SELECTORS

    return frozenset(CANDIDATE_SELECTORS)


def _check_candidate_strategy(strategy: Any) -> Any:
    if isinstance(strategy, str):
        if strategy not in get_args(CandidateSelectorName):
            raise ConfigError(
                f"candidate_selection_strategy must be "
                f"{quoted_choices(CandidateSelectorName)} or a callable, got {strategy!r}"
            )
        if strategy not in _candidate_names():
            raise ConfigError(
                f"candidate_selection_strategy={strategy!r} is not available in this version of "
                f"gepakit (it has {', '.join(sorted(_candidate_names()))})"
            )
        return strategy
    if hasattr(strategy, "select_candidate_idx") and not hasattr(strategy, "select"):
        raise ConfigError(
            "gepa CandidateSelector objects (select_candidate_idx(state)) are not supported by "
            "gepakit.dspy.GEPA: pass a name, a gepakit CandidateSelector (select(view, rng)) "
            "or fn(candidates, aggregate_scores, rng) -> index"
        )
    if not callable(strategy) and not hasattr(strategy, "select"):
        raise ConfigError(
            f"candidate_selection_strategy must be a name or a callable, got {strategy!r}"
        )
    return strategy


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Extra keyword arguments: further `gepakit.optimize` options, checked by its table.

    Raises:
        TypeError: a name that is neither dspy.GEPA's nor a gepakit option GEPA passes on.
        ConfigError: an invalid value (the message names the option).
    """
    from gepakit.options import optimize_kwargs

    accepted = _optimize_params() - SET_HERE
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"GEPA got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; besides "
            "dspy.GEPA's arguments it takes gepakit.optimize's options: "
            + ", ".join(sorted(accepted))
        )
    return optimize_kwargs(options, caller="GEPA")


RENAMES = {"num_threads": "workers", "log_dir": "run_dir"}
"""dspy.GEPA's names of gepakit options, where they differ."""


def _check_gepakit_values(values: Mapping[str, Any]) -> None:
    """Check options `GEPA` passes on (by dspy.GEPA's or gepakit's name) with gepakit's table,
    at construction, so a bad value fails before compile and any LM call."""
    from gepakit.options import optimize_kwargs

    given = {k: v for k, v in values.items() if v is not None}
    optimize_kwargs(given, renames=RENAMES, caller="GEPA")


def dspy_auto_budget(
    num_preds: int,
    num_candidates: int,
    valset_size: int,
    minibatch_size: int = 35,
    full_eval_steps: int = 5,
) -> int:
    """dspy.GEPA's `auto_budget` formula for any number of candidates.

    For the `auto` levels (6, 12, 18 candidates) it equals `gepakit.budgets.auto_budget`.

    Raises:
        ValueError: a negative size, or `full_eval_steps` < 1 (as in dspy.GEPA).
    """
    return candidates_budget(
        num_preds, num_candidates, valset_size, minibatch_size, full_eval_steps
    )


TRACKING_GEPA_KWARGS = frozenset({"mlflow_tracking_uri", "mlflow_experiment_name"})
"""gepa_kwargs keys passed to gepakit's MLflow sink unchanged."""


def _check_tracking(use_mlflow: bool, use_wandb: bool) -> None:
    """Fail at construction, not after the run, when a tracker's package is missing."""
    if use_mlflow:
        from gepakit.integrations.tracking.mlflow import require_mlflow

        require_mlflow()
    if use_wandb:
        from gepakit.integrations.tracking.wandb import require_wandb

        require_wandb()


def _wandb_login(api_key: str) -> None:
    from gepakit.integrations.tracking.wandb import require_wandb

    require_wandb().login(key=api_key, verify=False)


def _check_budget(auto: Any, max_full_evals: Any, max_metric_calls: Any) -> None:
    check_budget(max_metric_calls=max_metric_calls, auto=auto, max_full_evals=max_full_evals)


def _check_minibatch(size: Any) -> int:
    """None means gepa's default of 3 (dspy.GEPA passes None on to gepa)."""
    if size is None:
        return 3
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(
            f"reflection_minibatch_size must be a positive integer or None, got {size!r}"
        )
    return size


class GEPA(Teleprompter):
    """Optimize the instructions of a DSPy program with GEPA, on gepakit's engine.

    A `dspy.teleprompt.Teleprompter` taking the arguments of ``dspy.GEPA`` 3.4.1 (same
    names, defaults and budget numbers; `gepa_kwargs` keys mapped to gepakit's options)
    plus gepakit's own. Arguments gepakit cannot honour raise a `ConfigError` (a
    ValueError) instead of being ignored.

    Args:
        metric: ``metric(gold, pred, trace=None, pred_name=None, pred_trace=None)``
            returning a number or bool, or an object with `score` and `feedback` (for
            example ``dspy.Prediction(score=..., feedback=...)``), optionally
            `objective_scores`. Called without `pred_name` to score a run, and with the
            name and that predictor's trace to get feedback for one predictor.
        auto / max_full_evals / max_metric_calls: the budget; give exactly one.
        reflection_minibatch_size: train examples per reflection step (None: 3).
        candidate_selection_strategy: "pareto", "current_best", "epsilon_greedy",
            "top_k_pareto" (when this gepakit has it) or a gepakit selector.
        reflection_lm: the ``dspy.LM`` that writes new instructions (or any gepakit LM
            spec). Required unless `instruction_proposer` is given.
        instruction_proposer: ``fn(candidate, reflective_dataset, components_to_update)
            -> dict`` replacing the default proposer; called inside
            ``dspy.context(lm=reflection_lm)`` with dspy.GEPA's record shapes.
        component_selector: "round_robin" (program order), "all", gepa's
            ``fn(state, trajectories, subsample_scores, candidate_idx, candidate)`` or a
            `ReflectionComponentSelector`, or a gepakit selector.
        num_threads: rollouts running at once (default ``dspy.settings.num_threads``).
        log_dir: the run directory; running again with it resumes the run.
        track_stats: attach `detailed_results` (a `DspyGEPAResult`) to the program.
        use_wandb / use_mlflow: log to W&B / MLflow (gepakit's tracking sinks).
        seed: RNG seed; None draws one (recorded in the results).
        gepa_kwargs: gepa.optimize options, each mapped to gepakit's (see
            `gepakit.integrations.dspy.gepa_kwargs`).
        timeout / stop_after_no_improvement / score_threshold / stop_callback: gepakit's
            stop conditions (seconds; proposals without a new best; best mean val score;
            ``fn(view) -> bool``).
        acceptance: "improvement", "improvement_or_equal" or a gepakit Acceptance.
        max_concurrent_proposals: proposals in flight at once (gepakit).
        cache: a shared evaluation cache file (gepakit).
        report: write gepakit's HTML report of the run to this path (gepakit).
        callbacks: gepakit `EventSink`s (gepakit).
        reflection_adapter: the DSPy adapter of the default proposer's calls (default
            `dspy.JSONAdapter()`, as dspy.GEPA's built-in proposer).
        **options: any further `gepakit.optimize` option (for example
            `merge_subsample_size`, `progress`), passed on unchanged.

    Raises:
        ConfigError: invalid or unsupported arguments, before any LM call.
        MetricSignatureError: `metric` cannot take the five GEPA arguments (a TypeError).
        TypeError: a keyword argument that is neither dspy.GEPA's nor gepakit's.
    """

    def __init__(
        self,
        metric: Callable[..., Any],
        *,
        auto: str | None = None,
        max_full_evals: int | None = None,
        max_metric_calls: int | None = None,
        reflection_minibatch_size: int | None = 3,
        candidate_selection_strategy: Any = "pareto",
        reflection_lm: Any = None,
        skip_perfect_score: bool = True,
        add_format_failure_as_feedback: bool = False,
        instruction_proposer: Callable[..., Mapping[str, str]] | None = None,
        code_proposer: Any = None,
        component_selector: Any = "round_robin",
        use_merge: bool = True,
        max_merge_invocations: int | None = 5,
        num_threads: int | None = None,
        failure_score: float = 0.0,
        perfect_score: float = 1.0,
        log_dir: str | None = None,
        track_stats: bool = False,
        use_wandb: bool = False,
        wandb_api_key: str | None = None,
        wandb_init_kwargs: dict[str, Any] | None = None,
        track_best_outputs: bool = False,
        warn_on_score_mismatch: bool = True,
        use_mlflow: bool = False,
        seed: int | None = 0,
        gepa_kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
        stop_after_no_improvement: int | None = None,
        score_threshold: float | None = None,
        stop_callback: Callable[..., bool] | None = None,
        acceptance: Any = "improvement",
        max_concurrent_proposals: int = 1,
        cache: str | Path | None = None,
        report: str | Path | None = None,
        callbacks: Sequence[EventSink] = (),
        reflection_adapter: Any = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.metric_fn = check_metric(metric)
        _check_budget(auto, max_full_evals, max_metric_calls)
        if reflection_lm is None and instruction_proposer is None:
            raise ConfigError(
                "GEPA needs reflection_lm (a strong dspy.LM, e.g. dspy.LM('openai/gpt-5', "
                "temperature=1.0, max_tokens=32000)) or a custom instruction_proposer"
            )
        if instruction_proposer is not None and not callable(instruction_proposer):
            raise ConfigError(
                "instruction_proposer must be callable as "
                "fn(candidate, reflective_dataset, components_to_update) -> dict"
            )
        if code_proposer is not None:
            raise ConfigError(
                "code_proposer (dspy.Flex code components) is not supported by "
                "gepakit.dspy.GEPA; use dspy.GEPA for programs with dspy.Flex"
            )
        if use_merge and max_merge_invocations is None:
            raise ConfigError(
                "max_merge_invocations must be an int; use use_merge=False to turn merge off"
            )
        if track_best_outputs and not track_stats:
            raise ConfigError("track_best_outputs=True needs track_stats=True")
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"num_threads must be >= 1, got {num_threads!r}")
        self.gepa_kwargs = dict(gepa_kwargs or {})
        self.translated = gepa_kwargs_module.translate(self.gepa_kwargs, _optimize_params())
        _check_gepakit_values(self.translated.options)  # as gepakit.optimize will check them
        self.options = _check_options(options)
        # Reflection options shape the proposer GEPA builds (optimize never sees them).
        self.reflection_style: str = self.options.pop("reflection_style", "auto")
        self.max_text_chars: int | None = self.options.pop("max_text_chars", None)
        self.reflection_lm_kwargs: dict[str, Any] = {
            **(self.translated.reflection_lm_kwargs or {}),
            **(self.options.pop("reflection_lm_kwargs", None) or {}),
        }
        _check_gepakit_values(
            {
                "num_threads": num_threads,
                "log_dir": log_dir,
                "failure_score": failure_score,
                "perfect_score": perfect_score,
                "skip_perfect_score": skip_perfect_score,
                "use_merge": use_merge,
                "track_best_outputs": track_best_outputs,
                "timeout": timeout,
                "stop_after_no_improvement": stop_after_no_improvement,
                "score_threshold": score_threshold,
                "stop_callback": stop_callback,
                "acceptance": acceptance,
                "max_concurrent_proposals": max_concurrent_proposals,
                "cache": cache,
                "callbacks": list(callbacks),
            }
        )
        use_mlflow = bool(self.translated.options.pop("use_mlflow", False)) or use_mlflow
        _check_tracking(use_mlflow, use_wandb)
        self.use_mlflow = use_mlflow
        self.use_wandb = use_wandb
        self.wandb_api_key = wandb_api_key
        self.wandb_init_kwargs = wandb_init_kwargs
        self.auto = auto
        self.max_full_evals = max_full_evals
        self.max_metric_calls = max_metric_calls
        self.reflection_minibatch_size = reflection_minibatch_size
        self.minibatch_size = _check_minibatch(reflection_minibatch_size)
        self.candidate_selection_strategy = _check_candidate_strategy(candidate_selection_strategy)
        self.reflection_lm = reflection_lm
        self.skip_perfect_score = skip_perfect_score
        self.add_format_failure_as_feedback = add_format_failure_as_feedback
        self.custom_instruction_proposer = instruction_proposer
        self.component_selector = component_selector
        check_component_selector(component_selector)
        self.use_merge = use_merge
        self.max_merge_invocations = max_merge_invocations or 0
        self.num_threads = num_threads
        self.failure_score = failure_score
        self.perfect_score = perfect_score
        self.log_dir = log_dir
        self.track_stats = track_stats
        self.track_best_outputs = track_best_outputs
        self.warn_on_score_mismatch = warn_on_score_mismatch
        self.seed = seed
        self.timeout = timeout
        self.stop_after_no_improvement = stop_after_no_improvement
        self.score_threshold = score_threshold
        self.stop_callback = stop_callback
        self.acceptance = self.translated.options.pop("acceptance", acceptance)
        self.max_concurrent_proposals = max_concurrent_proposals
        self.cache = cache
        self.report = report
        self.callbacks = [*callbacks, *self.translated.sinks]
        self.reflection_adapter = reflection_adapter
        self.result: Result | None = None
        """The gepakit `Result` of the last `compile`."""

    def auto_budget(
        self,
        num_preds: int,
        num_candidates: int,
        valset_size: int,
        minibatch_size: int = 35,
        full_eval_steps: int = 5,
    ) -> int:
        """dspy.GEPA's `auto_budget`: metric calls for `num_candidates` candidates."""
        return dspy_auto_budget(
            num_preds, num_candidates, valset_size, minibatch_size, full_eval_steps
        )

    def budget(self, *, num_predictors: int, train_size: int, val_size: int | None) -> int:
        """Metric calls for this run, computed exactly as dspy.GEPA does.

        Args:
            num_predictors: predictors (components) in the program.
            train_size: trainset length.
            val_size: valset length, or None when no valset is given.
        """
        return budget_limit(
            max_metric_calls=self.max_metric_calls,
            auto=self.auto,
            max_full_evals=self.max_full_evals,
            num_components=num_predictors,
            train_size=train_size,
            valset_size=val_size or 0,
            eval_repeats=int(self.options.get("eval_repeats", 1)),
        )

    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[dspy.Example],
        teacher: dspy.Module | None = None,
        valset: Sequence[dspy.Example] | None = None,
        **kwargs: Any,
    ) -> dspy.Module:
        """Optimize the instructions of `student`'s predictors.

        Args:
            student: the program; it is not modified.
            trainset: examples for reflection minibatches.
            teacher: not supported (as in dspy.GEPA); must be None.
            valset: examples for the Pareto frontier; without one the trainset is used
                (with a warning).

        Returns:
            A deep copy of `student` with the best instructions found (demos untouched);
            with `track_stats`, its `detailed_results` is a `DspyGEPAResult`.

        Raises:
            ConfigError: invalid data or setup, before any LM call.
            TypeError: other keyword arguments (`Teleprompter.compile` allows them;
                dspy.GEPA takes none).
        """
        from gepakit.api import optimize

        if kwargs:
            raise TypeError(f"GEPA.compile got unexpected keyword arguments {sorted(kwargs)}")
        if teacher is not None:
            raise ConfigError("teacher is not supported by GEPA; pass teacher=None")
        if self.log_dir is not None:
            check_not_gepa_run(self.log_dir)  # a dspy.GEPA log_dir: say so, before any call
        names = predictor_names(student)
        without_lm = [name for name, lm in task_lms(student).items() if lm is None]
        if without_lm:
            raise ConfigError(
                f"no task LM for predictor(s) {', '.join(without_lm)}: configure one with "
                "dspy.configure(lm=dspy.LM(...)) or set one per predictor with set_lm(...)"
            )
        train = example_records(trainset, "trainset")
        if valset is None:
            # logged, not warnings.warn: dspy.GEPA logs it, so test suites run with
            # warnings as errors keep passing after the import change
            log.warning(
                "no valset given: GEPA uses the trainset as valset, so the prompts fit the "
                "trainset (good for inference-time search over these tasks; give a separate "
                "valset to generalize)"
            )
            val = train
        else:
            val = example_records(valset, "valset")
        limit = self.budget(
            num_predictors=len(names),
            train_size=len(train),
            val_size=len(val) if valset is not None else None,
        )
        seed = resolve_seed(self.seed, self.log_dir)  # None: the stored run's, or new
        report_fn = _report_writer(self.report)
        ledger = UsageLedger()
        context = contextvars.copy_context()
        builtin = is_builtin_proposer(self.custom_instruction_proposer)
        evaluator = ProgramEvaluator(
            programs=ProgramCache(student),
            metric=self.metric_fn,
            names=names,
            feedback_ids=frozenset(r.id for r in train),
            failure_score=self.failure_score,
            add_format_failure_as_feedback=self.add_format_failure_as_feedback,
            warn_on_score_mismatch=self.warn_on_score_mismatch,
            ledger=ledger,
            local_lm=any(is_local_dspy_lm(lm) for lm in task_lms(student).values()),
            seed=seed,
            context=context,
            builtin_proposer=builtin,
            # dspy.GEPA scores a raising program failure_score and goes on; an explicit
            # max_error_rate asks for gepakit's count-warn-stop instead.
            catch_errors="max_error_rate" not in self.options,
        )
        proposer = DspyProposer(
            reflection_lm=self.reflection_lm,
            custom=self.custom_instruction_proposer,
            ledger=ledger,
            context=context,
            adapter=self.reflection_adapter,
            style=self.reflection_style,
            lm_kwargs=self.reflection_lm_kwargs,
            max_text_chars=self.max_text_chars,
        )
        seed_texts = seed_candidate(student)
        gepa_state = self._gepa_state(seed_texts, val, seed)
        if self.use_wandb and self.wandb_api_key:
            _wandb_login(self.wandb_api_key)
        reuse = {**self.translated.options, **self.options}.get("reuse_evaluations", True)
        log.info(
            "GEPA: %d metric calls, %d train / %d val examples. Unlike dspy.GEPA, the budget "
            "is exact (never exceeded)%s",
            limit,
            len(train),
            len(val),
            " and a (candidate, example) is scored once per run; "
            "gepa_kwargs={'cache_evaluation': False} re-scores as dspy.GEPA does"
            if reuse
            else "",
        )
        view, hooks = (gepa_state.view, gepa_state.hooks) if gepa_state else (None, None)
        result = optimize(
            seed_texts,
            train,
            val,
            evaluator=evaluator,
            instruction_proposer=proposer,
            max_metric_calls=limit,
            reflection_minibatch_size=self.minibatch_size,
            candidate_selection_strategy=self.candidate_selection_strategy,
            component_selector=component_selector_for(
                self.component_selector,
                names,
                view,
                hooks.start_iteration if hooks is not None else lambda: None,
            ),
            skip_perfect_score=self.skip_perfect_score,
            perfect_score=self.perfect_score,
            failure_score=self.failure_score,
            use_merge=self.use_merge,
            max_merge_invocations=self.max_merge_invocations,
            track_best_outputs=self.track_best_outputs,
            seed=seed,
            workers=self.num_threads or int(dspy.settings.num_threads or 1),
            max_concurrent_proposals=self.max_concurrent_proposals,
            run_dir=self.log_dir,
            cache=self.cache,
            timeout=self.timeout,
            stop_after_no_improvement=self.stop_after_no_improvement,
            score_threshold=self.score_threshold,
            stop_callback=self._stop_callback(view),
            acceptance=self.acceptance,
            callbacks=[*self.callbacks, *([gepa_state] if gepa_state else [])],
            use_mlflow=self.use_mlflow,
            use_wandb=self.use_wandb,
            wandb_init_kwargs=self.wandb_init_kwargs,
            **{**self.translated.options, **self.options},
        )
        usage = _merge_usage(result.usage, ledger)
        self.result = result
        if report_fn is not None:
            report_fn(result)
        program = build_program(student, result.best_candidate)
        if self.track_stats:
            program.detailed_results = detailed_results(  # type: ignore[attr-defined]
                result,
                val,
                lambda c: build_program(student, c),
                usage=usage,
                cost_usd=UsageLedger.from_dict(usage).total().cost_usd,
                objectives=lambda c, eid: evaluator.objectives.get((tuple(sorted(c.items())), eid)),
                evaluator_errors=evaluator.errors,
            )
        return program

    def _gepa_state(
        self, seed_texts: Mapping[str, str], val: Sequence[Any], seed: int
    ) -> StateTracker | None:
        """gepa's view of the run, for gepa selectors, stoppers and callbacks (else None).

        The same `GEPAStateView` and `StateTracker` as `gepakit.gepa.optimize` uses;
        val data ids are valset positions, as in dspy.GEPA.
        """
        wanted = needs_gepa_state(self.component_selector) or bool(
            self.translated.gepa_stoppers or self.translated.gepa_callbacks
        )
        if not wanted:
            return None
        position = {rec.id: rec.index for rec in val}
        view = GEPAStateView(seed_texts, lambda eid: position.get(eid, eid))
        hooks = Hooks(self.translated.gepa_callbacks, view)
        config = {
            "perfect_score": self.perfect_score,
            "seed": seed,
            "track_best_outputs": self.track_best_outputs,
        }
        tracker = StateTracker(view, hooks, config)
        tracker.seed = dict(seed_texts)
        return tracker

    def _stop_callback(self, view: GEPAStateView | None) -> Callable[..., bool] | None:
        stops: list[Callable[..., bool]] = []
        if self.translated.gepa_stoppers:
            assert view is not None  # _gepa_state builds one whenever there are stoppers
            stops.append(StopperBridge(self.translated.gepa_stoppers, view))
        if self.stop_callback is not None:
            stops.append(self.stop_callback)
        return gepa_kwargs_module.combine_stops(stops)


def _merge_usage(engine_usage: Mapping[str, Any], ledger: UsageLedger) -> dict[str, Any]:
    """Our ledger (task + reflection) plus whatever the engine counted itself."""
    if not engine_usage or not engine_usage.get("roles"):
        return ledger.to_dict()
    merged = UsageLedger.from_dict(engine_usage)
    roles = dict(merged.to_dict()["roles"])
    for role in ledger.roles():
        roles[role] = (merged.usage(role) + ledger.usage(role)).to_dict()
    return UsageLedger.from_dict({"schema_version": 1, "roles": roles}).to_dict()


def _report_writer(path: str | Path | None) -> Callable[[Result], Any] | None:
    if path is None:
        return None
    try:
        from gepakit.report import write_report
    except ImportError as exc:
        raise ConfigError(f"report= needs gepakit's report package ({exc})") from exc
    target = Path(path)
    return lambda result: write_report(result, target)
