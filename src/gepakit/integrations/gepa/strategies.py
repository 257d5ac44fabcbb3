"""gepa's stoppers, candidate selectors and component selectors inside gepakit's engine.

Each bridge hands the gepa object a `GEPAStateView` with the attributes it reads
and checks what it returns. gepa's built-in strategies that gepakit has natively
are mapped to gepakit's own (see `native_name`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from gepakit.engine.selection import ComponentView, SelectionView, checked_components
from gepakit.engine.stopping import StopView
from gepakit.integrations.gepa.state import GEPAStateView, Pointers

log = logging.getLogger("gepakit")


def gepa_class(obj: object) -> str | None:
    """The class name of a gepa object (defined in the ``gepa`` package), else None."""
    cls = type(obj)
    module = cls.__module__ or ""
    return cls.__name__ if module == "gepa" or module.startswith("gepa.") else None


_NATIVE = {
    "ParetoCandidateSelector": "pareto",
    "CurrentBestCandidateSelector": "current_best",
    "RoundRobinReflectionComponentSelector": "round_robin",
    "AllReflectionComponentSelector": "all",
}


def native_name(obj: object) -> str | None:
    """gepakit's name for a gepa built-in strategy object it implements itself."""
    name = gepa_class(obj)
    return _NATIVE.get(name) if name is not None else None


class CandidateSelectorBridge:
    """A gepa ``CandidateSelector`` (``select_candidate_idx(state) -> int``) as gepakit's."""

    def __init__(
        self, selector: Any, view: GEPAStateView, on_select: Callable[[], None] = lambda: None
    ) -> None:
        self.gepa_selector = type(selector).__qualname__
        self._selector = selector
        self._view = view
        self._on_select = on_select

    def select(self, view: SelectionView, rng: random.Random) -> int:
        sync_view(self._view, view)
        self._on_select()  # choosing a parent starts a gepa iteration
        index = self._selector.select_candidate_idx(self._view)
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"{self.gepa_selector}.select_candidate_idx returned {index!r}")
        if not 0 <= index < len(view.candidates):
            raise ValueError(
                f"{self.gepa_selector}.select_candidate_idx returned {index}; the pool has "
                f"{len(view.candidates)} candidates"
            )
        return index


def sync_view(state: GEPAStateView, view: SelectionView) -> None:
    """Bring the pool and frontier of `state` in line with the engine's (also on replay)."""
    for i in range(len(state.program_candidates), len(view.candidates)):
        state.program_candidates.append(dict(view.candidates[i]))
        state.parent_program_for_candidate.append([None])
        state.prog_candidate_val_subscores.append({})
        state.num_metric_calls_by_discovery.append(state.total_num_evals)
    state.program_full_scores_val_set[:] = list(view.aggregate_scores)
    leaders = {k: v for k, v in view.frontier.leader_sets().items() if "::" not in k}
    state.program_at_pareto_front_valset = {state.data_id(k): set(v) for k, v in leaders.items()}
    state.pareto_front_valset = {state.data_id(k): view.frontier.best_scores[k] for k in leaders}


class ComponentSelectorBridge:
    """gepa's component selector protocol as gepakit's `ComponentSelector`.

    The protocol: ``selector(state, trajectories, subsample_scores, candidate_idx,
    candidate) -> list of component names``, for `ReflectionComponentSelector`
    objects and plain functions alike. `state` is the run's `GEPAStateView`, with the
    round-robin pointers of this call. Front doors that hand the selector other
    trajectories or candidate texts override `trajectories` and `candidate`.
    """

    def __init__(
        self, selector: Any, view: GEPAStateView, on_select: Callable[[], None] = lambda: None
    ) -> None:
        self.gepa_selector = getattr(selector, "__qualname__", type(selector).__qualname__)
        self._selector = selector
        self._view = view
        self._on_select = on_select

    def trajectories(self, view: ComponentView) -> list[Any]:
        """The selector's `trajectories`: the minibatch rollouts' traces."""
        return [r.trace for r in view.rollouts]

    def candidate(self, view: ComponentView) -> dict[str, str]:
        """The selector's `candidate`: the parent's texts."""
        return dict(view.candidate)

    def label(self) -> str:
        """How an error about the selector's choice names it."""
        return f"module_selector {self.gepa_selector}"

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        self._on_select()  # so that state.i is this iteration's, even for a cached minibatch
        self._view.named_predictor_id_to_update_next_for_program_candidate = Pointers(state)
        scores = [r.score for r in view.rollouts]
        chosen = self._selector(
            self._view, self.trajectories(view), scores, view.candidate_index, self.candidate(view)
        )
        return checked_components(chosen, view, self.label())


class StopperBridge:
    """gepa stoppers (``stopper(state) -> bool``) as one gepakit ``stop_callback``.

    A stopper that raises is logged and counts as "do not stop", as in gepa's own
    built-in stoppers.
    """

    def __init__(self, stoppers: Sequence[Any], view: GEPAStateView) -> None:
        self.stoppers = [type(s).__qualname__ for s in stoppers]
        self._stoppers = list(stoppers)
        self._view = view
        self.fired: str | None = None

    def __call__(self, view: StopView) -> bool:
        self._view.total_num_evals = view.metric_calls
        for stopper in self._stoppers:
            try:
                stop = bool(stopper(self._view))
            except Exception as exc:
                log.warning("gepa stopper %r failed: %s: %s", stopper, type(exc).__name__, exc)
                continue
            if stop:
                self.fired = type(stopper).__qualname__
                log.info("gepa stopper %s asked to stop", self.fired)
                return True
        return False
