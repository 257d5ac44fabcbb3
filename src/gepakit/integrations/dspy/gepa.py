"""`GEPA`: a drop-in replacement for ``dspy.GEPA`` running on gepakit's engine."""

from __future__ import annotations

import contextvars
import inspect
import logging
import secrets
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy

from gepakit.budgets import AUTO_RUNS, auto_budget
from gepakit.engine.protocols import EventSink
from gepakit.errors import ConfigError
from gepakit.integrations.dspy.evaluator import ProgramEvaluator
from gepakit.integrations.dspy.lm import is_local_dspy_lm
from gepakit.integrations.dspy.metric import check_metric
from gepakit.integrations.dspy.programs import (
    ProgramCache,
    build_program,
    example_records,
    predictor_names,
    seed_candidate,
)
from gepakit.integrations.dspy.proposers import DspyProposer
from gepakit.integrations.dspy.results import detailed_results
from gepakit.lm.usage import UsageLedger
from gepakit.result import Result

log = logging.getLogger("gepakit.dspy")

CANDIDATE_STRATEGIES = ("pareto", "current_best", "epsilon_greedy")


def _check_component_selector(selector: Any) -> Any:
    """Accept gepakit selectors; reject gepa's state-based selector protocol clearly."""
    if isinstance(selector, str) or hasattr(selector, "select"):
        return selector
    if not callable(selector):
        raise ConfigError(
            f"component_selector must be 'round_robin', 'all' or a callable, got {selector!r}"
        )
    try:
        inspect.signature(selector).bind(None, None)
    except TypeError as exc:
        raise ConfigError(
            "component_selector callables take (candidate: dict, rollouts: list) and return "
            "the names to update; gepa's ReflectionComponentSelector protocol (with GEPAState) "
            "is not supported by gepakit.dspy.GEPA"
        ) from exc
    except ValueError:
        pass
    return selector


TRACKING_GEPA_KWARGS = frozenset({"mlflow_tracking_uri", "mlflow_experiment_name"})
"""The keys of dspy.GEPA's `gepa_kwargs` gepakit honours (its own MLflow options)."""


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


class GEPA:
    """Optimize the instructions of a DSPy program with GEPA, on gepakit's engine.

    Takes the arguments of ``dspy.GEPA`` (same names, defaults and budget numbers) and
    adds gepakit's own as keyword arguments. Arguments gepakit cannot honour raise a
    `ConfigError` instead of being ignored.

    Args:
        metric: ``metric(gold, pred, trace=None, pred_name=None, pred_trace=None)``
            returning a float or an object with `score` and `feedback` (for example
            ``dspy.Prediction(score=..., feedback=...)``), optionally `objective_scores`.
            Called without `pred_name` to score a run, and with the name and that
            predictor's trace to get feedback for one predictor.
        auto / max_full_evals / max_metric_calls: the budget; give exactly one.
        reflection_minibatch_size: train examples per reflection step.
        candidate_selection_strategy: "pareto", "current_best" (or gepakit's
            "epsilon_greedy" or a callable).
        reflection_lm: the ``dspy.LM`` that writes new instructions (or any gepakit LM
            spec). Required unless `instruction_proposer` is given.
        instruction_proposer: ``fn(candidate, reflective_dataset, components_to_update)
            -> dict`` replacing gepakit's reflection; called inside
            ``dspy.context(lm=reflection_lm)``.
        num_threads: rollouts running at once (default ``dspy.settings.num_threads``).
        log_dir: the run directory; running again with it resumes the run.
        track_stats: attach `detailed_results` (a `DspyGEPAResult`) to the program.
        use_wandb / use_mlflow: log to W&B / MLflow (gepakit's tracking sinks); of
            `gepa_kwargs` only mlflow_tracking_uri and mlflow_experiment_name are honoured.
        seed: RNG seed; None draws one (recorded in the results).
        max_concurrent_proposals: proposals in flight at once (gepakit).
        cache: a shared evaluation cache file (gepakit).
        report: write gepakit's HTML report of the run to this path (gepakit).
        callbacks: gepakit `EventSink`s (gepakit).

    Raises:
        ConfigError: invalid or unsupported arguments, before any LM call.
        MetricSignatureError: `metric` cannot take the five GEPA arguments (a TypeError).
    """

    def __init__(
        self,
        metric: Callable[..., Any],
        *,
        auto: str | None = None,
        max_full_evals: int | None = None,
        max_metric_calls: int | None = None,
        reflection_minibatch_size: int = 3,
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
        max_concurrent_proposals: int = 1,
        cache: str | Path | None = None,
        report: str | Path | None = None,
        callbacks: Sequence[EventSink] = (),
    ) -> None:
        self.metric_fn = check_metric(metric)
        budgets = [
            n
            for n, v in (
                ("auto", auto),
                ("max_full_evals", max_full_evals),
                ("max_metric_calls", max_metric_calls),
            )
            if v is not None
        ]
        if len(budgets) != 1:
            raise ConfigError(
                "give exactly one of max_metric_calls, max_full_evals, auto "
                f"(got {', '.join(budgets) or 'none'})"
            )
        if auto is not None and auto not in AUTO_RUNS:
            raise ConfigError(f"auto must be one of {sorted(AUTO_RUNS)}, got {auto!r}")
        for name, value in (
            ("max_full_evals", max_full_evals),
            ("max_metric_calls", max_metric_calls),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
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
        unsupported = sorted(set(gepa_kwargs or {}) - TRACKING_GEPA_KWARGS)
        if unsupported:
            raise ConfigError(
                f"gepa_kwargs ({', '.join(unsupported)}) are options of the gepa package and "
                "are not supported by gepakit.dspy.GEPA (only "
                f"{', '.join(sorted(TRACKING_GEPA_KWARGS))} are); use gepakit's keyword "
                "arguments (max_concurrent_proposals, cache, callbacks ...) instead"
            )
        if use_merge and max_merge_invocations is None:
            raise ConfigError(
                "max_merge_invocations must be an int; use use_merge=False to turn merge off"
            )
        if track_best_outputs and not track_stats:
            raise ConfigError("track_best_outputs=True needs track_stats=True")
        if candidate_selection_strategy not in CANDIDATE_STRATEGIES and not callable(
            candidate_selection_strategy
        ):
            raise ConfigError(
                f"candidate_selection_strategy must be one of {CANDIDATE_STRATEGIES} or a "
                f"callable, got {candidate_selection_strategy!r}"
            )
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"num_threads must be >= 1, got {num_threads!r}")
        _check_tracking(use_mlflow, use_wandb)
        self.use_mlflow = use_mlflow
        self.use_wandb = use_wandb
        self.wandb_api_key = wandb_api_key
        self.wandb_init_kwargs = wandb_init_kwargs
        self.tracking_options = dict(gepa_kwargs or {})
        self.auto = auto
        self.max_full_evals = max_full_evals
        self.max_metric_calls = max_metric_calls
        self.reflection_minibatch_size = reflection_minibatch_size
        self.candidate_selection_strategy = candidate_selection_strategy
        self.reflection_lm = reflection_lm
        self.skip_perfect_score = skip_perfect_score
        self.add_format_failure_as_feedback = add_format_failure_as_feedback
        self.custom_instruction_proposer = instruction_proposer
        self.component_selector = _check_component_selector(component_selector)
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
        self.max_concurrent_proposals = max_concurrent_proposals
        self.cache = cache
        self.report = report
        self.callbacks = list(callbacks)
        self.result: Result | None = None
        """The gepakit `Result` of the last `compile`."""

    def budget(self, *, num_predictors: int, train_size: int, val_size: int | None) -> int:
        """Metric calls for this run, computed exactly as dspy.GEPA does.

        Args:
            num_predictors: predictors (components) in the program.
            train_size: trainset length.
            val_size: valset length, or None when no valset is given.
        """
        if self.auto is not None:
            return auto_budget(
                self.auto,
                num_components=max(num_predictors, 1),
                valset_size=val_size if val_size is not None else train_size,
            )
        if self.max_full_evals is not None:
            return self.max_full_evals * (train_size + (val_size or 0))
        assert self.max_metric_calls is not None  # __init__ checked exactly one is set
        return self.max_metric_calls

    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[dspy.Example],
        teacher: dspy.Module | None = None,
        valset: Sequence[dspy.Example] | None = None,
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
        """
        from gepakit.api import optimize

        if teacher is not None:
            raise ConfigError("teacher is not supported by GEPA; pass teacher=None")
        if dspy.settings.lm is None:
            raise ConfigError(
                "no task LM: configure one with dspy.configure(lm=dspy.LM(...)) before compile"
            )
        names = predictor_names(student)
        train = example_records(trainset, "trainset")
        if valset is None:
            warnings.warn(
                "no valset given: GEPA uses the trainset as valset, so the prompts fit the "
                "trainset (good for inference-time search over these tasks; give a separate "
                "valset to generalize)",
                UserWarning,
                stacklevel=2,
            )
            val = train
        else:
            val = example_records(valset, "valset")
        limit = self.budget(
            num_predictors=len(names),
            train_size=len(train),
            val_size=len(val) if valset is not None else None,
        )
        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        report_fn = _report_writer(self.report)
        ledger = UsageLedger()
        context = contextvars.copy_context()
        programs = ProgramCache(student)
        evaluator = ProgramEvaluator(
            programs=programs,
            metric=self.metric_fn,
            names=names,
            feedback_ids=frozenset(r.id for r in train),
            failure_score=self.failure_score,
            add_format_failure_as_feedback=self.add_format_failure_as_feedback,
            warn_on_score_mismatch=self.warn_on_score_mismatch,
            ledger=ledger,
            local_lm=is_local_dspy_lm(dspy.settings.lm),
            seed=seed,
            context=context,
        )
        proposer = DspyProposer(
            reflection_lm=self.reflection_lm,
            custom=self.custom_instruction_proposer,
            ledger=ledger,
            context=context,
        )
        if self.use_wandb and self.wandb_api_key:
            _wandb_login(self.wandb_api_key)
        log.info("GEPA: %d metric calls, %d train / %d val examples", limit, len(train), len(val))
        result = optimize(
            seed_candidate(student),
            train,
            val,
            evaluator=evaluator,
            instruction_proposer=proposer,
            max_metric_calls=limit,
            reflection_minibatch_size=self.reflection_minibatch_size,
            candidate_selection_strategy=self.candidate_selection_strategy,
            component_selector=self.component_selector,
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
            callbacks=self.callbacks,
            use_mlflow=self.use_mlflow,
            use_wandb=self.use_wandb,
            wandb_init_kwargs=self.wandb_init_kwargs,
            **self.tracking_options,
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
            )
        return program


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
