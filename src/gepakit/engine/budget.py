"""Exact metric-call budget: reserve before dispatch, commit or release after."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Budget:
    """Counts metric calls against a hard limit.

    A rollout reserves one unit before it is dispatched; when it completes the unit
    is committed (it becomes `used`); if it is never run the unit is released. The
    sum of used and reserved units never exceeds `limit`.
    """

    limit: int
    used: int = 0
    reserved: int = 0
    cache_hits: int = 0

    @property
    def available(self) -> int:
        """Units neither used nor reserved."""
        return self.limit - self.used - self.reserved

    @property
    def spent(self) -> int:
        """Units used or reserved: what the run has committed to pay.

        Unlike `used`, it does not depend on when concurrent rollouts finish, so
        decisions and records based on it are the same live and in replay.
        """
        return self.used + self.reserved

    def try_reserve(self, n: int) -> bool:
        """Reserve `n` units if they fit; return whether they were reserved."""
        if n < 0:
            raise ValueError(f"cannot reserve a negative number of units: {n}")
        if n > self.available:
            return False
        self.reserved += n
        return True

    def commit(self, n: int = 1) -> None:
        """Turn `n` reserved units into used units."""
        if n > self.reserved:
            raise RuntimeError(f"committing {n} units but only {self.reserved} are reserved")
        self.reserved -= n
        self.used += n

    def release(self, n: int = 1) -> None:
        """Give back `n` reserved units that were not spent."""
        if n > self.reserved:
            raise RuntimeError(f"releasing {n} units but only {self.reserved} are reserved")
        self.reserved -= n

    def extend(self, limit: int) -> None:
        """Change the limit (used when a finished run is resumed with a larger budget)."""
        self.limit = limit
