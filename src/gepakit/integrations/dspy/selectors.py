"""Component selectors for DSPy programs: program order, and gepa's selector protocol.

gepakit's own selectors see a `ComponentView`; gepa's (and so dspy.GEPA's) are called
as ``selector(state, trajectories, subsample_scores, candidate_idx, candidate)`` and
read a few fields of gepa's `GEPAState` (DSPy's docs' `alternating_half_selector`
reads ``state.i``). `GepaStateView` carries the fields that make sense here.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from gepakit.engine.selection import ComponentView
from gepakit.errors import ConfigError


class ProgramOrderRoundRobin:
    """One predictor per proposal, cycling per candidate in the program's order.

    gepakit candidates keep their components sorted by name; DSPy (and gepa) go
    through the predictors in the order `named_predictors()` lists them.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        names = [n for n in self.names if n in view.candidate] or list(view.candidate)
        pointer = state.get(view.candidate_index, 0)
        state[view.candidate_index] = (pointer + 1) % len(names)
        return [names[pointer % len(names)]]


class ProgramOrderAll:
    """Every predictor, in the program's order."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        return [n for n in self.names if n in view.candidate] or list(view.candidate)


@dataclass
class GepaStateView:
    """The parts of gepa's `GEPAState` a gepa component selector may read.

    `i` counts the proposals whose components were selected before this one (gepa's
    iteration counter, from 0). `list_of_named_predictors` and
    `named_predictor_id_to_update_next_for_program_candidate` let gepa's own
    `RoundRobinReflectionComponentSelector` work; `program_candidates` holds the
    texts of the candidate being changed (index `candidate_idx`), others are not shown.
    """

    i: int
    list_of_named_predictors: list[str]
    named_predictor_id_to_update_next_for_program_candidate: defaultdict[int, int] = field(
        default_factory=lambda: defaultdict(int)
    )
    program_candidates: dict[int, dict[str, str]] = field(default_factory=dict)


class GepaProtocolSelector:
    """Adapts a gepa-style selector ``fn(state, trajectories, subsample_scores, idx, cand)``.

    `trajectories` are dicts with the example, the program's prediction, the score and
    the per-predictor reflective records (gepakit's trace); `subsample_scores` the
    minibatch scores in order.
    """

    def __init__(self, fn: Callable[..., Sequence[str]], names: Sequence[str]) -> None:
        self.fn = fn
        self.names = list(names)
        self._calls = 0
        self._pointers: defaultdict[int, int] = defaultdict(int)

    def select(self, view: ComponentView, state: dict[int, int]) -> list[str]:
        candidate = {n: view.candidate[n] for n in self.names if n in view.candidate}
        gepa_state = GepaStateView(
            i=self._calls,
            list_of_named_predictors=list(candidate),
            named_predictor_id_to_update_next_for_program_candidate=self._pointers,
            program_candidates={view.candidate_index: dict(candidate)},
        )
        self._calls += 1
        trajectories = [
            {"example": r.example_id, "prediction": r.output, "score": r.score, "trace": r.trace}
            for r in view.rollouts
        ]
        scores = [r.score for r in view.rollouts]
        chosen = list(self.fn(gepa_state, trajectories, scores, view.candidate_index, candidate))
        unknown = [c for c in chosen if c not in view.candidate]
        if not chosen or unknown:
            raise ValueError(
                f"component selector returned {chosen!r}; expected a non-empty list of "
                f"names from {list(candidate)}"
            )
        return chosen


def _takes_five(fn: Any) -> bool:
    try:
        inspect.signature(fn).bind(None, None, None, None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (builtins): assume gepa's protocol
        return True
    return True


def component_selector(selector: Any, names: Sequence[str]) -> Any:
    """What to pass to `gepakit.optimize` for dspy.GEPA's `component_selector`.

    Accepts "round_robin" and "all" (in program order), gepakit selectors (objects
    with `select(view, state)`), gepa's protocol (a callable or a
    `ReflectionComponentSelector` taking five arguments) and gepakit's
    ``fn(candidate, rollouts)``.

    Raises:
        ConfigError: an unknown name or an object that is none of these.
    """
    if isinstance(selector, str):
        if selector == "round_robin":
            return ProgramOrderRoundRobin(names)
        if selector == "all":
            return ProgramOrderAll(names)
        raise ConfigError(
            f"component_selector must be 'round_robin', 'all' or a callable, got {selector!r}"
        )
    if hasattr(selector, "select"):
        return selector
    if not callable(selector):
        raise ConfigError(
            "component_selector must be 'round_robin', 'all', a gepa ReflectionComponentSelector "
            f"or a callable, got {selector!r}"
        )
    if _takes_five(selector):
        return GepaProtocolSelector(cast("Callable[..., Sequence[str]]", selector), names)
    return selector  # gepakit's fn(candidate, rollouts)
