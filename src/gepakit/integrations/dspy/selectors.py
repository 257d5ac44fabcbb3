"""Component selectors for DSPy programs: program order, and gepa's selector protocol.

gepakit's own selectors see a `ComponentView`; gepa's (and so dspy.GEPA's) are called
as ``selector(state, trajectories, subsample_scores, candidate_idx, candidate)`` and
read gepa's `GEPAState` (DSPy's docs' `alternating_half_selector` reads ``state.i``);
they get gepakit's `GEPAStateView` of the run, kept in step by the gepa front door's
`StateTracker`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, cast, get_args

from gepakit.engine.selection import ComponentView
from gepakit.errors import ConfigError
from gepakit.integrations.gepa.state import GEPAStateView
from gepakit.integrations.gepa.strategies import ComponentSelectorBridge, native_name
from gepakit.options import ComponentSelectorName, quoted_choices


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


class GepaProtocolSelector(ComponentSelectorBridge):
    """Adapts a gepa-style selector ``fn(state, trajectories, subsample_scores, idx, cand)``.

    `state` is gepakit's `GEPAStateView` of the run (``state.i`` is the iteration, from
    0; the pool, val scores and round-robin pointers as gepa keeps them); `trajectories`
    are dicts shaped like dspy.GEPA's (example id, prediction, score, and the
    per-predictor reflective records as the trace); `subsample_scores` the minibatch
    scores in order; `candidate` the texts in program order.
    """

    def __init__(
        self,
        fn: Callable[..., Sequence[str]],
        names: Sequence[str],
        view: GEPAStateView,
        on_select: Callable[[], None],
    ) -> None:
        super().__init__(fn, view, on_select)
        self.names = list(names)

    def trajectories(self, view: ComponentView) -> list[Any]:
        return [
            {"example": r.example_id, "prediction": r.output, "score": r.score, "trace": r.trace}
            for r in view.rollouts
        ]

    def candidate(self, view: ComponentView) -> dict[str, str]:
        return {n: view.candidate[n] for n in self.names if n in view.candidate}

    def label(self) -> str:
        return "component selector"


def _takes_five(fn: Any) -> bool:
    try:
        inspect.signature(fn).bind(None, None, None, None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (builtins): assume gepa's protocol
        return True
    return True


def needs_gepa_state(selector: Any) -> bool:
    """Whether `selector` follows gepa's protocol (and so reads a `GEPAState`)."""
    if isinstance(selector, str) or hasattr(selector, "select") or native_name(selector):
        return False
    return callable(selector) and _takes_five(selector)


def check_component_selector(selector: Any) -> None:
    """Raise `ConfigError` unless `component_selector` is one dspy.GEPA or gepakit takes."""
    if isinstance(selector, str):
        if selector not in get_args(ComponentSelectorName):
            raise ConfigError(
                f"component_selector must be {quoted_choices(ComponentSelectorName)} or a "
                f"callable, got {selector!r}"
            )
    elif not hasattr(selector, "select") and not callable(selector):
        names = ", ".join(map(repr, get_args(ComponentSelectorName)))
        raise ConfigError(
            f"component_selector must be {names}, a gepa ReflectionComponentSelector or a "
            f"callable, got {selector!r}"
        )


def component_selector(
    selector: Any,
    names: Sequence[str],
    view: GEPAStateView | None = None,
    on_select: Callable[[], None] = lambda: None,
) -> Any:
    """What to pass to `gepakit.optimize` for dspy.GEPA's `component_selector`.

    "round_robin" and "all" (and gepa's own selector objects for them) go in program
    order; gepakit selectors (objects with `select(view, state)`) and gepakit's
    ``fn(candidate, rollouts)`` pass unchanged; gepa's protocol (a callable or a
    `ReflectionComponentSelector` taking five arguments) gets `view`, the run's gepa
    state (required for it).

    Raises:
        ConfigError: an unknown name or an object that is none of these.
    """
    check_component_selector(selector)
    name = selector if isinstance(selector, str) else native_name(selector)
    if name == "round_robin":
        return ProgramOrderRoundRobin(names)
    if name == "all":
        return ProgramOrderAll(names)
    if not needs_gepa_state(selector):
        return selector
    if view is None:
        raise ValueError("a gepa-protocol component selector needs the run's GEPAStateView")
    fn = cast("Callable[..., Sequence[str]]", selector)
    return GepaProtocolSelector(fn, names, view, on_select)
