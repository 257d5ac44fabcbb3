"""When a child beats its parent on the minibatch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Acceptance(Protocol):
    """Decides whether a child is worth a full validation. Returns (accept, reason)."""

    def decide(self, parent: Sequence[float], child: Sequence[float]) -> tuple[bool, str]: ...


class StrictImprovement:
    """Accept when the child's minibatch sum is strictly higher (GEPA's default)."""

    def decide(self, parent: Sequence[float], child: Sequence[float]) -> tuple[bool, str]:
        p, c = sum(parent), sum(child)
        if c > p:
            return True, f"minibatch sum improved from {p:g} to {c:g}"
        return False, f"minibatch sum {c:g} did not beat the parent's {p:g}"


class ImprovementOrEqual:
    """Accept when the child's minibatch sum is at least the parent's."""

    def decide(self, parent: Sequence[float], child: Sequence[float]) -> tuple[bool, str]:
        p, c = sum(parent), sum(child)
        if c >= p:
            return True, f"minibatch sum {c:g} is at least the parent's {p:g}"
        return False, f"minibatch sum {c:g} is below the parent's {p:g}"
