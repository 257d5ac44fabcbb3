"""Runs on disk: open a run directory for `optimize`, load, summarize and export runs.

`load_run` builds the `Result` from the stored records (candidates, their val
rollouts, proposals, the last session's summary), without any LM or user code,
so it works for every run, including runs with custom callables (selectors,
proposers, evaluators) that could not be rebuilt from JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gepakit.engine.acceptance import StrictImprovement
from gepakit.engine.budget import Budget
from gepakit.engine.draws import stored_evaluation
from gepakit.engine.protocols import EventSink, RunStore
from gepakit.engine.state import EngineState, SearchConfig
from gepakit.errors import ConfigError, ResumeMismatchError, StoreError
from gepakit.result import Result, result_from_state
from gepakit.store.cache import CachedMemoryStore, EvalCache
from gepakit.store.spec import spec_differences
from gepakit.store.sqlite import DB_NAME, SQLiteStore
from gepakit.types import Candidate, Example, Rollout

log = logging.getLogger("gepakit")

STOP_FILE = "STOP"


GEPA_STATE_FILE = "gepa_state.bin"
"""What the `gepa` package saves in its run_dir (a pickled `GEPAState`)."""


def check_not_gepa_run(run_dir: str | Path) -> None:
    """Refuse a run directory written by the `gepa` package, before anything is opened.

    Raises:
        ConfigError: `run_dir` holds gepa's state file and no gepakit run.
    """
    path = Path(run_dir)
    if (path / GEPA_STATE_FILE).exists() and not (path / DB_NAME).exists():
        raise ConfigError(
            f"run_dir {str(path)!r} holds a run written by the gepa package "
            f"({GEPA_STATE_FILE}, a pickled GEPAState); gepakit cannot resume gepa runs. "
            "Give gepakit a new run_dir (the gepa run is left untouched), or resume this "
            "one with gepa itself."
        )


def open_run(
    run_dir: str | Path,
    spec: Mapping[str, Any],
    train: Sequence[Example],
    val: Sequence[Example],
    *,
    cache: str | Path | EvalCache | None = None,
) -> SQLiteStore:
    """Open (or create) the run in `run_dir` for `optimize`, checking it can resume.

    A new run stores its spec and examples. An existing run must have the same spec
    except for the budget (which may only grow) and the stop conditions. A STOP file
    left by the previous session is removed.

    Raises:
        ResumeMismatchError: the stored run differs; the message lists what differs.
        RunInUseError: another process has the run open.
        StoreError: the directory cannot be written, or the store is damaged.
    """
    check_not_gepa_run(run_dir)
    store = SQLiteStore(run_dir, cache=cache, evaluator_id=spec["evaluator_id"])
    try:
        stored = store.meta().get("spec")
        if stored is None:
            store.put_examples("train", train)
            store.put_examples("val", val)
            store.put_meta({"spec": dict(spec), "created": time.time()})
        else:
            _check_resume(store, stored, spec, train, val)
            updates = {k: spec[k] for k in ("max_metric_calls", "stop_conditions")}
            store.put_meta({"spec": {**stored, **updates}})
        stop = store.run_dir / STOP_FILE
        if stop.exists():
            log.info("removing %s left by the previous session", stop)
            stop.unlink()
        store.put_event(
            "session_started",
            {"resumed": stored is not None, "max_metric_calls": spec["max_metric_calls"]},
        )
    except BaseException:
        store.close()
        raise
    return store


def _check_resume(
    store: SQLiteStore,
    stored: Mapping[str, Any],
    spec: Mapping[str, Any],
    train: Sequence[Example],
    val: Sequence[Example],
) -> None:
    diffs = spec_differences(
        stored,
        spec,
        {"train": store.examples("train"), "val": store.examples("val")},
        {"train": train, "val": val},
    )
    old_limit = int(stored.get("max_metric_calls", 0))
    if spec["max_metric_calls"] < old_limit:
        diffs.append(
            f"max_metric_calls: stored {old_limit}, given {spec['max_metric_calls']} "
            "(a resumed run may keep or raise its budget, not lower it)"
        )
    if diffs:
        listed = "\n".join(f"  - {d}" for d in diffs)
        raise ResumeMismatchError(
            f"cannot resume the run in {store.run_dir}: this call differs from the stored "
            f"run in\n{listed}\nCall again with the stored settings (only the budget and "
            "the stop conditions may change), or use a new run_dir."
        )


class StoreRecorder(EventSink):
    """Records a session's start and final summary in the run's event log, and keeps a
    snapshot of the cumulative LM usage (meta key ``usage``) after every proposal, so a
    resumed run reports the usage of all its sessions."""

    def __init__(self, store: SQLiteStore, ledger: Any = None) -> None:
        self.store = store
        self.ledger = ledger

    def _snapshot(self) -> None:
        if self.ledger is not None:
            usage = self.ledger.to_dict()
            self.store.put_meta({"usage": usage})
            # A compact copy in the event log gives the report its cost-over-time chart.
            self.store.put_event("usage", _compact_usage(usage))

    def run_started(self, info: Mapping[str, Any]) -> None:
        self.store.put_event("run_started", info)

    def proposal_finished(self, proposal: Any) -> None:
        self._snapshot()

    def run_finished(self, summary: Mapping[str, Any]) -> None:
        self._snapshot()
        # The full Result is rebuilt from the records; the event keeps the summary only.
        self.store.put_event("run_finished", {k: v for k, v in summary.items() if k != "result"})


def _compact_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")
    roles: Mapping[str, Any] = usage.get("roles", {})
    return {
        "roles": {
            role: {k: counts.get(k) for k in keys}
            for role, counts in roles.items()
            if isinstance(counts, Mapping)
        }
    }


# -- reading runs -----------------------------------------------------------


def load_run(run_dir: str | Path) -> Result:
    """The `Result` of the run stored in `run_dir` (finished, stopped or crashed).

    Needs no LM and no user code: the result is rebuilt from the stored records.
    `usage` is the LM usage of all sessions together; `stop_reason` is the
    last session's, or says the run was interrupted.

    Raises:
        StoreError: there is no readable run in `run_dir`.
    """
    with SQLiteStore(run_dir, readonly=True) as store:
        return result_from_store(store)


def result_from_store(store: SQLiteStore) -> Result:
    """Build the `Result` of an open store (see `load_run`)."""
    spec: Mapping[str, Any] = store.meta().get("spec") or {}
    if not spec:
        raise StoreError(f"the run store {store.path} has no run configuration yet")
    search: Mapping[str, Any] = spec.get("search", {})
    config = SearchConfig(
        minibatch_size=int(search.get("minibatch_size", 3)),
        perfect_score=float(search.get("perfect_score", 1.0)),
        track_best_outputs=bool(search.get("track_best_outputs", False)),
        seed=int(search.get("seed", 0)),
        acceptance=StrictImprovement(),
        frontier_type=str(search.get("frontier_type", "instance")),
    )
    train, val = store.examples("train"), store.examples("val")
    stored_cands = store.candidates()
    seed = stored_cands[0][1] if stored_cands else Candidate(components=spec["seed_candidate"])
    state = EngineState(seed, train, val, config, Budget(int(spec.get("max_metric_calls", 0))))
    repeats = int(search.get("eval_repeats", 1))
    for _, cand, parents, info in stored_cands:
        evaluated = info.get("val_ids")  # a candidate evaluated on part of the valset
        ids = set(evaluated) if isinstance(evaluated, list) else None
        chosen = [e for e in val if ids is None or e.id in ids]
        rollouts = _val_rollouts(store, cand, chosen, repeats, info.get("val_draws") or {})
        state.add_candidate(
            cand,
            parents,
            str(info.get("origin", "")),
            rollouts,
            discovered_at=int(info.get("discovery_calls", 0)),
        )
    state.budget.used = store.paid_count
    state.proposals = store.proposals()
    finished = [d for _, k, d in store.events() if k == "run_finished"]
    last = finished[-1] if finished else {}
    state.budget.cache_hits = int(last.get("cache_hits", 0))
    reason = str(last.get("stop_reason") or "")
    if not finished or _session_after(store, "run_finished"):
        reason = "not finished: the last session is running or was interrupted"
    usage = store.meta().get("usage") or {}
    return result_from_state(state, usage=usage, run_dir=str(store.run_dir), stop_reason=reason)


def _val_rollouts(
    store: SQLiteStore,
    cand: Candidate,
    val: Sequence[Example],
    repeats: int = 1,
    first: Mapping[str, int] | None = None,
) -> list[Rollout]:
    """The candidate's val rollouts, each folded from its draws (`gepakit.engine.draws`)."""
    out: list[Rollout] = []
    for ex in val:
        start = int((first or {}).get(ex.id, 0))
        r = stored_evaluation(store.rollout, (cand.id, ex.id, "val"), start, repeats)
        if r is None:
            raise StoreError(
                f"the run store {store.path} lacks the val rollout of candidate {cand.id} on "
                f"example {ex.id!r}; it is damaged"
            )
        out.append(r)
    return out


def _session_after(store: SQLiteStore, kind: str) -> bool:
    """Whether a session started after the last event of `kind`."""
    kinds = [k for _, k, _ in store.events()]
    last = max(i for i, k in enumerate(kinds) if k == kind)
    return "session_started" in kinds[last + 1 :]


def run_status(run_dir: str | Path, *, last_events: int = 8) -> dict[str, Any]:
    """A summary of the run in `run_dir`: budget used, candidates, best, last events."""
    with SQLiteStore(run_dir, readonly=True) as store:
        result = result_from_store(store)
        events = [e for e in store.events(last=4 * last_events) if e[1] != "usage"]
        events = events[-last_events:]
        meta = store.meta()
    spec: Mapping[str, Any] = meta.get("spec", {})
    return {
        "run_dir": str(run_dir),
        "metric_calls_used": result.total_metric_calls,
        "max_metric_calls": result.max_metric_calls,
        "num_candidates": result.num_candidates,
        "num_proposals": len(result.proposals),
        "accepted": sum(p.decision == "accepted" for p in result.proposals),
        "best_idx": result.best_idx if result.candidates else None,
        "best_score": result.best_score if result.candidates else None,
        "stop_reason": result.stop_reason,
        "evaluator_id": spec.get("evaluator_id"),
        "cli_config": meta.get("cli_config"),
        "last_events": [{"time": t, "kind": k, "data": d} for t, k, d in events],
    }


class RunHandle:
    """What `optimize` closes after a run, and the sink that logs the session."""

    def __init__(self, store: SQLiteStore | None, closer: SQLiteStore | CachedMemoryStore) -> None:
        self.store = store
        self._closer = closer

    def recorder(self, ledger: Any = None) -> EventSink:
        """A sink recording the session's start and summary (a no-op without run_dir)."""
        return StoreRecorder(self.store, ledger) if self.store is not None else EventSink()

    def restore_usage(self, ledger: Any) -> None:
        """Add the usage of earlier sessions of this run to `ledger`."""
        if self.store is None or ledger is None:
            return
        stored = self.store.meta().get("usage")
        if stored:
            from gepakit.lm.usage import UsageLedger

            ledger.merge(UsageLedger.from_dict(stored))

    def close(self) -> None:
        """Close the store and release the run lock."""
        self._closer.close()


def open_for_optimize(
    run_dir: str | Path | None,
    cache: str | Path | None,
    spec: Mapping[str, Any],
    train: Sequence[Example],
    val: Sequence[Example],
) -> tuple[RunStore, RunHandle]:
    """The store `optimize` uses for `run_dir` and/or `cache`, and its handle.

    Raises:
        ResumeMismatchError / RunInUseError / StoreError: see `open_run`.
    """
    if run_dir is not None:
        store = open_run(run_dir, spec, train, val, cache=cache)
        return store, RunHandle(store, store)
    if cache is None:
        raise ValueError("open_for_optimize needs a run_dir or a cache")
    mem = CachedMemoryStore(EvalCache(cache), spec["evaluator_id"])
    return mem, RunHandle(None, mem)
