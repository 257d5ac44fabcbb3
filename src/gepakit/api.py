"""`gepakit.optimize`: validate inputs, choose defaults, wire the engine, run it."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from gepakit.budgets import resolve_budget
from gepakit.engine.acceptance import Acceptance
from gepakit.engine.budget import Budget
from gepakit.engine.draws import DRAW_MARK
from gepakit.engine.health import DEFAULT_MAX_ERROR_RATE
from gepakit.engine.loop import Driver
from gepakit.engine.profiles import ReflectionStyle, make_proposer, resolve_style
from gepakit.engine.protocols import EventSink, Executor, MultiSink, RunStore
from gepakit.engine.reflection import CallableProposer, Proposer
from gepakit.engine.rollout import RolloutRunner
from gepakit.engine.sampling import BatchSampler
from gepakit.engine.selection import (
    CallableComponents,
    CallableSelector,
    CandidateSelector,
    ComponentSelector,
    TopKParetoSelector,
)
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.engine.stopping import (
    CallableStop,
    MaxCost,
    MaxReflectionCalls,
    NoImprovement,
    ScoreThreshold,
    StopCondition,
    Timeout,
)
from gepakit.engine.valpolicy import ValPolicy
from gepakit.errors import ConfigError, EvaluatorError, RunInterrupted, RunStoppedError
from gepakit.executors.local import AsyncioExecutor, InlineExecutor, ThreadExecutor
from gepakit.options import (
    ACCEPTANCES,
    CANDIDATE_SELECTORS,
    COMPONENT_SELECTORS,
    VAL_POLICIES,
    AcceptanceName,
    AutoBudgetName,
    BatchSamplerName,
    CandidateSelectorName,
    ComponentSelectorName,
    ExecutorName,
    FrontierTypeName,
    ValPolicyName,
    check_options,
    resolve_seed,
)
from gepakit.result import Result, result_from_state
from gepakit.store.memory import MemoryStore
from gepakit.types import Candidate, Example, content_hash

log = logging.getLogger("gepakit")


def make_examples(data: Sequence[Any] | None, name: str) -> list[Example]:
    """Wrap user examples with stable ids (their "id" key/attribute, else a content hash).

    Raises:
        ConfigError: `data` is not a sequence, is empty, or has duplicate ids.
    """
    if data is None or isinstance(data, (str, bytes, Mapping)):
        raise ConfigError(f"{name} must be a list of examples, got {type(data).__name__}")
    items = list(data)
    if not items:
        raise ConfigError(f"{name} is empty; give at least one example")
    examples = []
    for ex in items:
        raw_id = ex.get("id") if isinstance(ex, Mapping) else _attr_id(ex)
        ex_id = str(raw_id) if raw_id is not None else content_hash(ex)
        examples.append(Example(id=ex_id, data=ex))
    counts = Counter(e.id for e in examples)
    dupes = sorted(i for i, n in counts.items() if n > 1)
    if dupes:
        shown = ", ".join(repr(d) for d in dupes[:5])
        raise ConfigError(
            f"{name} has duplicate example ids ({shown}{' ...' if len(dupes) > 5 else ''}); "
            "give each example a unique 'id' or remove the duplicates"
        )
    return examples


def _attr_id(ex: Any) -> Any:
    try:
        value = getattr(ex, "id", None)
    except Exception:
        return None
    return value if isinstance(value, (str, int)) else None


def _check_seed(seed_candidate: Any) -> Candidate:
    if not isinstance(seed_candidate, Mapping) or not seed_candidate:
        raise ConfigError(
            "seed_candidate must be a non-empty dict of component name -> text, "
            f"got {seed_candidate!r}"
        )
    for key, text in seed_candidate.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise TypeError(
                f"seed_candidate[{key!r}] must map a string name to a string text, "
                f"got {type(text).__name__}"
            )
    return Candidate(components=dict(seed_candidate))


def _is_callable(obj: object) -> bool:
    """`callable` without type narrowing: user objects stay `Any` for the checker."""
    return callable(obj)


# The values below were validated by `check_options`: a name of the table, or an object.


def _candidate_selector(strategy: Any, top_k: int = 5) -> CandidateSelector:
    if strategy == "top_k_pareto":
        return TopKParetoSelector(top_k)
    if isinstance(strategy, str):
        return CANDIDATE_SELECTORS[strategy]()
    if hasattr(strategy, "select"):
        return cast(CandidateSelector, strategy)
    return CallableSelector(strategy)


def _component_selector(strategy: Any) -> ComponentSelector:
    if isinstance(strategy, str):
        return COMPONENT_SELECTORS[strategy]()
    if hasattr(strategy, "select"):
        return strategy
    return CallableComponents(strategy)


def _val_policy(value: Any) -> ValPolicy:
    return VAL_POLICIES[value]() if isinstance(value, str) else value


def _acceptance(value: Any) -> Acceptance:
    return ACCEPTANCES[value]() if isinstance(value, str) else value


def _proposer(
    reflection_lm: Any,
    instruction_proposer: Any,
    templates: Any,
    ledger: Any,
    *,
    style: str = "auto",
    lm_kwargs: Mapping[str, Any] | None = None,
    max_text_chars: int | None = None,
    api_base: str | None = None,
) -> Proposer:
    if instruction_proposer is not None:
        if hasattr(instruction_proposer, "propose"):
            return instruction_proposer
        if _is_callable(instruction_proposer):
            return CallableProposer(instruction_proposer)
        raise ConfigError(
            "instruction_proposer must be a callable "
            "(candidate, reflective_dataset, components) -> dict"
        )
    if reflection_lm is None:
        raise ConfigError("reflection_lm is required unless instruction_proposer= is given")
    profile = resolve_style(style, reflection_lm)
    prompt_fn = _prompt_fn(reflection_lm, ledger, lm_kwargs or {}, api_base)
    return make_proposer(profile, prompt_fn, templates=templates, max_text_chars=max_text_chars)


def _prompt_fn(
    reflection_lm: Any, ledger: Any, lm_kwargs: Mapping[str, Any], api_base: str | None = None
) -> Any:
    """A `prompt -> reply` function from a callable, an LM object or a model string.

    Sampling is the user's: the LM's own settings, with `lm_kwargs` on top of them for
    every call; nothing is forced. `api_base` applies to a model-name LM.
    """
    if isinstance(reflection_lm, str) or hasattr(reflection_lm, "complete"):
        from gepakit.lm.resolve import as_prompt_fn, resolve_lm

        base = api_base if isinstance(reflection_lm, str) else None
        try:
            lm = resolve_lm(reflection_lm, role="reflection", ledger=ledger, api_base=base)
        except ConfigError as error:
            raise ConfigError(f"reflection_lm: {error}") from None
        return as_prompt_fn(lm, **lm_kwargs)
    if _is_callable(reflection_lm):
        if lm_kwargs:
            log.warning(
                "reflection_lm_kwargs %s are not used: a plain function reflection_lm gets "
                "only the prompt (pass an LM object or a model name to set sampling params)",
                sorted(lm_kwargs),
            )
        if ledger is not None:
            from gepakit.lm.resolve import as_prompt_fn, resolve_lm

            lm = resolve_lm(reflection_lm, role="reflection", ledger=ledger)
            return as_prompt_fn(lm, **lm_kwargs)
        return reflection_lm
    raise ConfigError(
        f"reflection_lm must be a model name, an LM or a callable, "
        f"got {type(reflection_lm).__name__}"
    )


def _stop_conditions(
    timeout: float | None,
    patience: int | None,
    threshold: float | None,
    stop_callback: Callable[..., bool] | None,
    max_cost_usd: float | None = None,
    max_reflection_calls: int | None = None,
) -> tuple[StopCondition, ...]:
    conds: list[StopCondition] = []
    if max_cost_usd is not None:
        conds.append(MaxCost(float(max_cost_usd)))
    if max_reflection_calls is not None:
        conds.append(MaxReflectionCalls(max_reflection_calls))
    if timeout is not None:
        conds.append(Timeout(timeout))
    if patience is not None:
        conds.append(NoImprovement(patience))
    if threshold is not None:
        conds.append(ScoreThreshold(threshold))
    if stop_callback is not None:
        conds.append(CallableStop(stop_callback))
    return tuple(conds)


def _executor(executor: Any, workers: int, is_async: bool) -> Executor:
    if executor is None:
        if is_async:
            return AsyncioExecutor(workers)
        return InlineExecutor() if workers == 1 else ThreadExecutor(workers)
    if isinstance(executor, str):
        if executor == "ray":
            from gepakit.executors.ray import RayExecutor  # type: ignore[import-not-found]

            return RayExecutor(workers)
        if executor == "thread":
            return ThreadExecutor(workers)
        return InlineExecutor()
    return executor


class _StopFlag:
    """Set by Ctrl-C / SIGTERM or a STOP file; a second Ctrl-C aborts at once."""

    def __init__(self, stop_file: Path | None) -> None:
        self.event = threading.Event()
        self.stop_file = stop_file

    def __call__(self) -> bool:
        if self.stop_file is not None and self.stop_file.exists():
            self.event.set()
        return self.event.is_set()


@contextlib.contextmanager
def _signals(flag: _StopFlag) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): stop dispatching, stop LM retries, break off a blocking
    call on the main thread, return the result so far within a few seconds. A second
    Ctrl-C raises KeyboardInterrupt at once (every record is committed: resume later)."""
    from gepakit.executors.local import in_inline_call
    from gepakit.lm.retry import allow_retries, cancel_retries

    allow_retries()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    run_dir = flag.stop_file.parent if flag.stop_file is not None else None
    hint = f"; resume later with run_dir={str(run_dir)!r}" if run_dir is not None else ""

    def handler(signum: int, frame: Any) -> None:
        if flag.event.is_set() and signum == signal.SIGINT:
            log.warning("second Ctrl-C: exiting now; every finished rollout is saved%s", hint)
            raise KeyboardInterrupt
        flag.event.set()
        cancel_retries()
        log.warning(
            "stop requested: no new rollouts; returning the result within a few seconds "
            "(Ctrl-C again to exit at once)%s",
            hint,
        )
        if in_inline_call():  # a blocking call on this thread: break it off now
            raise RunInterrupted

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


@contextlib.contextmanager
def _retry_deadline(timeout: float | None) -> Iterator[None]:
    """With a `timeout`, LM retries do not wait past it (see `set_retry_deadline`)."""
    from gepakit.lm.retry import set_retry_deadline

    set_retry_deadline(time.monotonic() + timeout if timeout is not None else None)
    try:
        yield
    finally:
        set_retry_deadline(None)


def _shutdown(executor: Executor, *, wait: bool) -> None:
    """Shut an executor down; without `wait`, gepakit's own executors leave running
    calls behind (a hung LM call must not hold up a stopped run)."""
    if isinstance(executor, InlineExecutor | ThreadExecutor | AsyncioExecutor):
        executor.shutdown(wait=wait)
    else:
        executor.shutdown()


def optimize(
    seed_candidate: Mapping[str, str],
    trainset: Sequence[Any],
    valset: Sequence[Any] | None = None,
    *,
    evaluator: Callable[..., Any],
    reflection_lm: Any = None,
    instruction_proposer: Any = None,
    max_metric_calls: int | None = None,
    auto: AutoBudgetName | None = None,
    max_full_evals: int | None = None,
    reflection_minibatch_size: int = 3,
    candidate_selection_strategy: CandidateSelectorName | CandidateSelector | Callable[..., int] = (
        "pareto"
    ),
    top_k: int = 5,
    component_selector: ComponentSelectorName | ComponentSelector | Callable[..., Any] = (
        "round_robin"
    ),
    skip_perfect_score: bool = True,
    perfect_score: float = 1.0,
    failure_score: float = 0.0,
    raise_on_exception: bool = False,
    use_merge: bool = True,
    max_merge_invocations: int = 5,
    merge_subsample_size: int = 5,
    merge_val_overlap_floor: int = 5,
    frontier_type: FrontierTypeName = "instance",
    val_evaluation_policy: ValPolicyName | ValPolicy = "full",
    batch_sampler: BatchSamplerName | BatchSampler | Callable[..., Any] = "epoch",
    eval_repeats: int = 1,
    reuse_evaluations: bool = True,
    acceptance: AcceptanceName | Acceptance = "improvement",
    track_best_outputs: bool = False,
    reflection_prompt_template: str | Mapping[str, str] | None = None,
    reflection_style: ReflectionStyle = "auto",
    reflection_lm_kwargs: Mapping[str, Any] | None = None,
    max_text_chars: int | None = None,
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE,
    seed: int | None = 0,
    workers: int = 1,
    max_concurrent_proposals: int = 1,
    executor: ExecutorName | Executor | None = None,
    run_dir: str | Path | None = None,
    cache: str | Path | None = None,
    evaluator_id: str | None = None,
    timeout: float | None = None,
    stop_after_no_improvement: int | None = None,
    score_threshold: float | None = None,
    max_cost_usd: float | None = None,
    max_reflection_cost: float | None = None,
    max_reflection_calls: int | None = None,
    stop_callback: Callable[..., bool] | None = None,
    callbacks: Sequence[EventSink] = (),
    progress: bool | None = None,
    use_mlflow: bool = False,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    use_wandb: bool = False,
    wandb_init_kwargs: Mapping[str, Any] | None = None,
    store: RunStore | None = None,
    run_metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    api_base: str | None = None,
    register_prompt: str | None = None,
    quiet: bool = False,
) -> Result:
    """Optimize the texts of `seed_candidate` with GEPA.

    Data and evaluation:
        seed_candidate: component name -> starting text, e.g. ``{"system_prompt": "..."}``.
        trainset: examples for reflection minibatches (dicts, dataclasses, any objects;
            `gepakit.load_examples` reads JSONL/CSV/Hugging Face datasets). An
            example's id is its "id" key or attribute, else a hash of its content.
        valset: examples for scoring candidates (the Pareto frontier). Without one,
            the trainset is used, with a warning (risk of overfitting).
        evaluator: ``evaluator(candidate: dict, example) -> float | Score``; may be
            ``async def``. An evaluator that also has ``evaluate_batch(candidate,
            examples, split, capture_traces) -> rollouts`` (`BatchEvaluator`) is called
            once per minibatch or valset request instead of once per example.
            `gepakit.programs.PromptProgram` is a ready-made one.
        failure_score: score of a rollout whose evaluator raised or returned NaN
            (default 0.0).
        raise_on_exception: stop the run with `EvaluatorError` when the evaluator
            raises, instead of scoring `failure_score` (default False).
        perfect_score: the best score an example can get (default 1.0).

    Reflection:
        reflection_lm: the model that rewrites the texts: a name ("local",
            "openai/gpt-4o-mini", "<provider>/<model>" via LiteLLM), an LM object, a
            ``dspy.LM`` or a callable ``prompt -> reply``. Required unless
            instruction_proposer is given.
        api_base: base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp) for a
            model-name reflection_lm.
        instruction_proposer: ``fn(candidate, reflective_dataset, components) -> dict``
            (or an object with ``propose``) replacing the built-in reflection.
        reflection_minibatch_size: train examples per reflection step (default 3).
        component_selector: which components a proposal rewrites: "round_robin"
            (default), "all", or a callable / object with ``select``.
        reflection_prompt_template: the reflection prompt, or a dict component ->
            template; placeholders ``{component}`` ``{current_text}`` ``{examples}``
            ``{rejected}`` ``{format_hints}``.
        reflection_style: how the reflection LM is prompted and its reply handled:
            "general" (for capable models: infer the task, write complete instructions,
            no shape, no length cap), "compact" (tuned for small local models: a shape
            to fill in, tidying, a second try), or "auto" (default): compact for the
            embedded ``local/...`` models, general otherwise. See
            `gepakit.engine.profiles`.
        reflection_lm_kwargs: sampling params for every reflection call (temperature,
            max_tokens, ...), on top of the LM's own settings; nothing else is forced.
        max_text_chars: a length budget for proposed texts, stated in the prompt and
            enforced (longer texts are rejected); None (default) sets none.
        max_error_rate: stop with `EvaluatorError` when a larger share of one minibatch
            or val evaluation fails (the evaluator raised or returned NaN); default 0.5;
            None never stops (failures are scored `failure_score`, with a warning).

    Budget (give exactly one):
        max_metric_calls: budget in rollouts (metric calls); exact, never exceeded.
            The run stops when fewer calls are left than one minibatch step (2 x
            minibatch); an accepted child whose val evaluation does not fit is scored
            on a seeded subsample of what fits (its score is its mean there).
        auto: budget preset "light", "medium" or "heavy" (DSPy's formula).
        max_full_evals: budget in full passes over train + val.

    Search:
        candidate_selection_strategy: how a proposal's parent is chosen: "pareto"
            (default), "current_best", "epsilon_greedy", or a callable / selector.
        skip_perfect_score: skip reflection on a minibatch where every score is
            `perfect_score` (default True).
        acceptance: when a child beats its parent on the minibatch: "improvement"
            (default, strictly better sum), "improvement_or_equal", or an object with
            ``decide(parent_scores, child_scores)``.
        use_merge: also try merges of two lineages (no LM call; default True).
        max_merge_invocations: most merged candidates a run adds (default 5); a merge
            that fails its subsample test does not count.
        merge_subsample_size: val examples a merged candidate is first scored on
            (default 5).
        track_best_outputs: keep the outputs of the best candidates per val example
            (`Result.best_outputs_valset`; default False).
        top_k: with candidate_selection_strategy="top_k_pareto", sample the frontier
            among the top_k candidates by mean val score (default 5).
        merge_val_overlap_floor: two candidates merge only when scored on this many
            common val examples (default 5, capped at the valset size).
        frontier_type: Pareto frontier keys, as in gepa: "instance" (per val example,
            default), "objective", "hybrid" or "cartesian".
        val_evaluation_policy: which val examples a new candidate is scored on:
            "full" (default), "subsample", "progressive" or a `ValPolicy` object.
        batch_sampler: how reflection minibatches are drawn: "epoch" (default), an
            object with ``next_batch(rng)``, or ``fn(train_ids, rng) -> ids``.
        eval_repeats: for noisy evaluators: evaluate each (candidate, example) this
            many times and use the mean score (default 1). Every draw is a metric call,
            so each step costs eval_repeats times as much; reflection sees the draws'
            scores and feedback. ``auto`` and ``max_full_evals`` count evaluations, so
            they allow eval_repeats times the metric calls; ``max_metric_calls`` stays
            exact. See `gepakit.engine.draws`.
        reuse_evaluations: serve a (candidate, example) evaluated before in the run
            (or in the shared cache) for free (default True). False evaluates it again
            each time it is asked for, e.g. a parent's minibatch (gepa's
            ``cache_evaluation=False``); it cannot be combined with ``cache``.
        max_cost_usd / max_reflection_cost: stop once the LM usage ledger reaches this
            many US dollars (max_reflection_cost is gepa's name for it).
        max_reflection_calls: stop after this many reflection LM calls. Both caps are
            checked before each new proposal.
        seed: seed of the optimizer's random choices (default 0). None draws one,
            records it in the result (and the run_dir), and a resume reuses it.

    Execution:
        workers: rollouts running at once (default 1).
        max_concurrent_proposals: most proposals in flight at once (default 1); the
            engine runs fewer while most proposals are accepted, since each would be
            built on a parent that a sibling's child supersedes, and while the
            proposer rewrites whole texts, since a stale child's edit then cannot be
            carried over to the newer candidate.
        executor: where rollouts run: "inline", "thread", "ray" or an object with
            ``submit``; default inline for 1 worker, threads for more, asyncio for
            async evaluators.

    Run directory, cache and resume:
        run_dir: persist the run there (SQLite); calling again with the same run_dir
            resumes it (a finished run returns its stored result, with a warning; a
            larger max_metric_calls extends it).
        overwrite: start over on a used run_dir: the old run is moved to
            ``<run_dir>.old-<time>`` (default False).
        cache: a shared evaluation cache file (rollouts reused across runs).
        evaluator_id: names the evaluator in the store and cache; default its
            qualified name. Change it when the evaluator's behaviour changes.
        store: a `RunStore` object instead of run_dir (advanced).
        run_metadata: JSON data saved with the run (e.g. how to rebuild it for resume).

    Stopping (besides the budget; Ctrl-C or a STOP file in run_dir also stop a run
    cleanly and return the result so far):
        timeout: stop after this many seconds; a valset pass is not started after it
            and LM retries do not wait past it (the call gives up; a resume retries it).
        stop_after_no_improvement: stop after this many proposals without a new best.
        score_threshold: stop when the best mean val score reaches this.
        stop_callback: ``fn(view) -> bool`` called before each proposal; True stops.

    Visibility and tracking:
        progress: the live display: True, False, or None (default: shown on a
            terminal and in Jupyter). Independently, one INFO line per proposal goes
            to the ``gepakit`` logger (shown on stderr when logging is not configured
            and no display is shown).
        quiet: no display and no log lines (warnings still show; default False).
        callbacks: `EventSink` objects notified of the run's events.
        use_mlflow / mlflow_tracking_uri / mlflow_experiment_name: log the run to
            MLflow: params (models, search settings), metrics (scores, tokens,
            cost_usd), candidates as they are found (`MLflowSink`; extra ``mlflow``).
        register_prompt: register the best prompt in MLflow's Prompt Registry under
            this name (implies use_mlflow).
        use_wandb / wandb_init_kwargs: log the run to W&B (`WandbSink`; extra ``wandb``).

    Returns:
        The `Result`: candidates, scores, lineage, frontier, proposals, usage, and why
        the run stopped (`stop_reason`). Score it on a test set with `gepakit.evaluate`.

    Every option is also described in `gepakit.options.OPTIONS`.

    Raises:
        ConfigError / TypeError: invalid inputs, before any evaluator or LM call; the
            message names the option.
        EvaluatorError: the evaluator failed on every val example with the seed (or
            raised with raise_on_exception=True).
        RunInUseError / ResumeMismatchError / StoreError: the run_dir is in use, holds
            a different run, or cannot be read or written.
    """
    settings = dict(locals())  # first: locals() holds exactly the arguments here
    check_options(settings)
    if quiet and progress:
        raise ConfigError("quiet=True and progress=True contradict each other; give one")
    seed_cand = _check_seed(seed_candidate)
    _check_templates(reflection_prompt_template, seed_cand)
    train = make_examples(trainset, "trainset")
    if valset is None:
        warnings.warn(
            "no valset given: the trainset doubles as valset, so scores may be "
            "optimistic (overfitting)",
            UserWarning,
            stacklevel=2,
        )
        val = train
    else:
        val = make_examples(valset, "valset")
    limit = resolve_budget(
        max_metric_calls=max_metric_calls,
        auto=auto,
        max_full_evals=max_full_evals,
        num_components=len(seed_cand.components),
        train_size=len(train),
        valset_size=len(val) if valset is not None else 0,
        eval_repeats=eval_repeats,
    )
    seed = resolve_seed(seed, run_dir if store is None else None)
    _check_draws(eval_repeats, reuse_evaluations, cache, limit, train, val)
    step = 2 * min(reflection_minibatch_size, len(train))
    if limit < eval_repeats * (len(val) + step):
        times = f" x eval_repeats {eval_repeats}" if eval_repeats > 1 else ""
        warnings.warn(
            f"the budget of {limit} metric calls leaves no room for a proposal after the "
            f"seed evaluation (needs {eval_repeats * (len(val) + step)}: (valset {len(val)} "
            f"+ 2 x minibatch){times})",
            UserWarning,
            stacklevel=2,
        )
    config = SearchConfig(
        minibatch_size=reflection_minibatch_size,
        perfect_score=perfect_score,
        skip_perfect_score=skip_perfect_score,
        use_merge=use_merge,
        max_merge_invocations=max_merge_invocations,
        merge_subsample_size=merge_subsample_size,
        max_concurrent_proposals=max_concurrent_proposals,
        track_best_outputs=track_best_outputs,
        max_error_rate=max_error_rate,
        seed=seed,
        candidate_selector=_candidate_selector(candidate_selection_strategy, top_k),
        component_selector=_component_selector(component_selector),
        acceptance=_acceptance(acceptance),
        stop_conditions=_stop_conditions(
            timeout,
            stop_after_no_improvement,
            score_threshold,
            stop_callback,
            max_cost_usd if max_cost_usd is not None else max_reflection_cost,
            max_reflection_calls,
        ),
        merge_val_overlap_floor=merge_val_overlap_floor,
        frontier_type=frontier_type,
        val_policy=_val_policy(val_evaluation_policy),
        batch_sampler=None if isinstance(batch_sampler, str) else batch_sampler,
        eval_repeats=eval_repeats,
        reuse_evaluations=reuse_evaluations,
    )
    ledger = _new_ledger()
    proposer = _proposer(
        reflection_lm,
        instruction_proposer,
        reflection_prompt_template,
        ledger,
        style=reflection_style,
        lm_kwargs=reflection_lm_kwargs,
        max_text_chars=max_text_chars,
        api_base=api_base,
    )
    before = _prepare_run_dir(run_dir, store, overwrite)
    runner = RolloutRunner(
        evaluator, failure_score=failure_score, raise_on_exception=raise_on_exception
    )
    run_store, owned = _open_store(
        store,
        run_dir,
        cache,
        evaluator_id,
        evaluator,
        seed_cand,
        train,
        val,
        config,
        limit,
        failure_score=failure_score,
    )
    extra_sinks: list[EventSink] = []
    executors: list[Executor] = []
    try:  # close the store, trackers and executors if the wiring fails
        if run_metadata and hasattr(run_store, "put_meta"):
            run_store.put_meta(dict(run_metadata))  # type: ignore[attr-defined]
        state = EngineState(seed_cand, train, val, config, Budget(limit))
        extra_sinks = _extra_sinks(
            progress,
            ledger,
            quiet=quiet,
            register_prompt=register_prompt,
            params=_tracked_settings(settings, limit, seed),
            use_mlflow=use_mlflow,
            mlflow_tracking_uri=mlflow_tracking_uri,
            mlflow_experiment_name=mlflow_experiment_name,
            use_wandb=use_wandb,
            wandb_init_kwargs=wandb_init_kwargs,
        )
        sinks = [*callbacks, *extra_sinks]
        if ledger is not None and hasattr(evaluator, "use_ledger"):
            cast(Any, evaluator).use_ledger(ledger)  # the task LM's usage joins the run ledger
        if owned is not None:
            owned.restore_usage(ledger)
            sinks.append(owned.recorder(ledger))
        flag = _StopFlag(Path(run_dir) / "STOP" if run_dir is not None else None)
        rollout_exec = _executor(executor, workers, runner.is_async)
        executors.append(rollout_exec)
        # Only the asyncio executor awaits coroutines; elsewhere the runner runs them itself.
        rollout_fn = runner.acall if isinstance(rollout_exec, AsyncioExecutor) else runner
        proposer_exec: Executor = (
            InlineExecutor()
            if max_concurrent_proposals == 1 and workers == 1
            else ThreadExecutor(max_concurrent_proposals)
        )
        executors.append(proposer_exec)
        driver = Driver(
            state,
            run_rollout=rollout_fn,
            executor=rollout_exec,
            proposer=proposer,
            proposer_executor=proposer_exec,
            store=run_store,
            sink=MultiSink(sinks),
            stop_requested=flag,
            failure_score=runner.failure_score,
            run_batch=getattr(evaluator, "evaluate_batch", None),
            usage=_usage_view(ledger),
        )
    except BaseException:
        for created in executors:  # their threads would outlive the failed call
            _shutdown(created, wait=False)
        _close(owned)
        _close_sinks(extra_sinks)
        raise
    driver.sink.run_started(
        {
            "max_metric_calls": limit,
            "train": len(train),
            "val": len(val),
            "seed": seed,
            "components": list(seed_cand.components),
        }
    )
    finished = False
    try:
        with _signals(flag), _retry_deadline(timeout):
            driver.run()
        finished = True
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt):
            _record_failure(owned, error)
        _close(owned)
        _close_sinks(extra_sinks)
        raise
    finally:
        wait = finished and driver.abandoned == 0
        _shutdown(rollout_exec, wait=wait)
        _shutdown(proposer_exec, wait=wait)
    if state.seed_error is not None:
        seed_failed = EvaluatorError(
            f"the evaluator failed on every val example with the seed candidate (first error "
            f"on {state.seed_error}). Nothing was sent to the reflection LM; fix the evaluator "
            "(raise_on_exception=True shows the full traceback).",
        )
        _record_failure(owned, seed_failed)
        _close(owned)
        _close_sinks(extra_sinks)
        raise seed_failed
    if not state.candidates:  # stopped before the seed was scored: no result to return
        _close(owned)
        _close_sinks(extra_sinks)
        where = f"; resume with run_dir={str(run_dir)!r}" if run_dir is not None else ""
        raise RunStoppedError(
            f"the run stopped before the seed candidate was scored: {state.stop_reason}"
            f" ({state.budget.used} paid rollouts kept{where})"
        )
    usage = ledger.to_dict() if ledger is not None else {}
    result = result_from_state(
        state, usage=usage, run_dir=str(run_dir) if run_dir is not None else None
    )
    driver.sink.run_finished(
        {
            "result": result,
            "stop_reason": result.stop_reason,
            "best_score": result.best_score,
            "total_metric_calls": result.total_metric_calls,
            "cache_hits": result.cache_hits,
            "usage": result.usage,
        }
    )
    _close(owned)
    unchanged = before is not None and result.total_metric_calls == before.metric_calls
    if before is not None and before.kind == "finished" and unchanged:
        log.warning(
            "%s already held a finished run: this is its stored result (no new metric "
            "calls). Pass overwrite=True (gepakit run --fresh) to start over, or raise "
            "max_metric_calls to extend it.",
            run_dir,
        )
    return result


def _prepare_run_dir(run_dir: str | Path | None, store: Any, overwrite: bool) -> Any:
    """Move a used run_dir aside for `overwrite`; else the run's state before this call."""
    if overwrite:
        if run_dir is None:
            raise ConfigError("overwrite=True needs a run_dir (there is nothing to start over)")
        from gepakit.run_state import start_fresh

        start_fresh(run_dir)
        return None
    if run_dir is None or store is not None:
        return None
    from gepakit.errors import StoreError
    from gepakit.run_state import run_state

    try:
        return run_state(run_dir)
    except StoreError:  # a damaged run: opening it for the run says why
        return None


def _record_failure(owned: Any, error: BaseException) -> None:
    """Log the error in the run store, so `gepakit status` says the run failed."""
    if owned is not None and owned.store is not None:
        from gepakit.run_state import record_failure

        record_failure(owned.store, error)


_UNTRACKED = frozenset(
    {"seed_candidate", "trainset", "valset", "callbacks", "store", "run_metadata", "progress",
     "quiet", "wandb_init_kwargs", "mlflow_tracking_uri", "stop_callback"}
)  # fmt: skip


def _tracked_settings(settings: Mapping[str, Any], limit: int, seed: int) -> dict[str, Any]:
    """The settings a tracker logs as params (what users filter runs by)."""
    out = {k: v for k, v in settings.items() if k not in _UNTRACKED}
    out.update(max_metric_calls=limit, seed=seed)
    return out


def _check_draws(
    repeats: int,
    reuse: bool,
    cache: Any,
    limit: int,
    train: Sequence[Example],
    val: Sequence[Example],
) -> None:
    """eval_repeats / reuse_evaluations against the budget, the cache and the example ids.

    Raises:
        ConfigError: the budget cannot score the seed `repeats` times on the valset;
            a shared cache with reuse_evaluations=False; an example id holding the
            draw separator.
    """
    if repeats > 1 and limit < repeats * len(val):
        raise ConfigError(
            f"a budget of {limit} metric calls cannot evaluate the seed on the {len(val)} val "
            f"examples {repeats} times (eval_repeats={repeats}); raise it to at least "
            f"{repeats * len(val)} or lower eval_repeats"
        )
    if not reuse and cache is not None:
        raise ConfigError(
            "cache= serves stored evaluations, which reuse_evaluations=False turns off; "
            "drop cache= or reuse_evaluations=False"
        )
    if repeats > 1 or not reuse:
        for ex in (*train, *val):
            if DRAW_MARK in ex.id:
                raise ConfigError(
                    f"example id {ex.id!r} holds U+FDD1, which gepakit uses to number "
                    "repeated evaluations; give the example another id"
                )


def _check_templates(templates: Any, seed: Candidate) -> None:
    """A per-component template mapping may only name components of the seed."""
    if isinstance(templates, Mapping):
        unknown = sorted(set(cast(Mapping[str, str], templates)) - set(seed.components))
        if unknown:
            raise ConfigError(
                f"reflection_prompt_template names {unknown[0]!r}, which is not a component "
                f"of seed_candidate ({', '.join(repr(c) for c in seed.components)})"
            )


def _open_store(
    store: RunStore | None,
    run_dir: str | Path | None,
    cache: str | Path | None,
    evaluator_id: str | None,
    evaluator: Any,
    seed: Candidate,
    train: list[Example],
    val: list[Example],
    config: SearchConfig,
    limit: int,
    *,
    failure_score: float,
) -> tuple[RunStore, Any]:
    """The run store (given, SQLite in run_dir, or memory) and what to close after the run.

    Opening a run_dir checks that it can be resumed with this call and saves the run's
    spec, before any LM call. See `gepakit.runs.open_for_optimize`.
    """
    if store is not None:
        return store, None
    if run_dir is None and cache is None:
        return MemoryStore(), None
    from gepakit.runs import open_for_optimize  # imported late: keeps `import gepakit` light
    from gepakit.store.spec import default_evaluator_id, run_spec

    ev_id = evaluator_id or default_evaluator_id(evaluator)
    spec = run_spec(
        seed,
        train,
        val,
        config,
        failure_score=failure_score,
        evaluator_id=ev_id,
        max_metric_calls=limit,
    )
    return open_for_optimize(run_dir, cache, spec, train, val)


def _close(owned: Any) -> None:
    if owned is not None:
        owned.close()


def _usage_view(ledger: Any) -> Callable[[], tuple[int, float]] | None:
    """() -> (reflection LM calls, USD cost so far) from the run's usage ledger."""
    if ledger is None:
        return None

    def view() -> tuple[int, float]:
        return ledger.usage("reflection").calls, float(ledger.total().known_cost_usd)

    return view


def _new_ledger() -> Any:
    try:
        from gepakit.lm.usage import UsageLedger
    except ImportError:
        return None
    return UsageLedger()


def _extra_sinks(
    progress: bool | None, ledger: Any, *, quiet: bool = False, **tracking: Any
) -> list[EventSink]:
    """The progress display, log lines and experiment trackers `optimize`'s options ask for."""
    from gepakit.progress import progress_sinks

    sinks = progress_sinks(progress, ledger=ledger, quiet=quiet)
    if tracking["use_mlflow"] or tracking["use_wandb"] or tracking["register_prompt"]:
        from gepakit.integrations.tracking import tracking_sinks

        sinks += tracking_sinks(ledger=ledger, **tracking)
    return sinks


def _close_sinks(sinks: Sequence[EventSink]) -> None:
    """Stop displays and end tracker runs after a run that raised."""
    for sink in sinks:
        close = getattr(sink, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.warning("closing %r failed", sink, exc_info=True)
