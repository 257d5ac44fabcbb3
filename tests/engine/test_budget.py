"""The exact budget: reserve, commit, release, never above the limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gepakit.engine.budget import Budget

op = st.tuples(st.sampled_from(["reserve", "commit", "release"]), st.integers(0, 6))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.lists(op, max_size=60))
def test_used_plus_reserved_never_exceeds_the_limit(limit: int, ops: list[tuple[str, int]]) -> None:
    budget = Budget(limit)
    for name, n in ops:
        before = (budget.used, budget.reserved)
        if name == "reserve":
            ok = budget.try_reserve(n)
            assert ok == (n <= limit - before[0] - before[1])
            if not ok:
                assert (budget.used, budget.reserved) == before
        elif n > budget.reserved:
            with pytest.raises(RuntimeError):
                getattr(budget, name)(n)
            assert (budget.used, budget.reserved) == before
        else:
            getattr(budget, name)(n)
        assert budget.used + budget.reserved <= budget.limit
        assert budget.used >= 0 and budget.reserved >= 0
        assert budget.available == budget.limit - budget.used - budget.reserved


def test_commit_and_release() -> None:
    budget = Budget(5)
    assert budget.try_reserve(3)
    budget.commit(2)
    budget.release(1)
    assert (budget.used, budget.reserved, budget.available) == (2, 0, 3)
    assert not budget.try_reserve(4)
    assert budget.try_reserve(3)
    assert budget.available == 0


def test_negative_reservation_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        Budget(3).try_reserve(-1)
