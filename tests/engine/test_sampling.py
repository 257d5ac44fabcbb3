"""Epoch-shuffled minibatches."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gepakit.engine.sampling import EpochSampler


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 15), st.integers(1, 8), st.integers(0, 99))
def test_batches_have_no_repeats_and_epochs_hold_each_id_once(
    n: int, size: int, batches: int, seed: int
) -> None:
    ids = [f"e{i}" for i in range(n)]
    sampler, rng = EpochSampler(ids, size), random.Random(seed)
    drawn = [sampler.next_batch(rng) for _ in range(batches)]
    for batch in drawn:
        assert len(batch) == min(size, n)
        assert len(set(batch)) == len(batch)
    flat = [i for b in drawn for i in b]
    # The first epoch is one permutation of every id.
    if len(flat) >= n:
        assert sorted(flat[:n]) == sorted(ids)
    # An epoch holds each id at most once (pending ids are carried into the next).
    counts = Counter(flat)
    assert max(counts.values()) <= sampler.epoch


def test_epochs_reshuffle_and_count() -> None:
    sampler, rng = EpochSampler(["a", "b", "c", "d"], 2), random.Random(0)
    first = sampler.next_batch(rng) + sampler.next_batch(rng)
    assert sorted(first) == ["a", "b", "c", "d"]
    assert sampler.epoch == 1
    sampler.next_batch(rng)
    assert sampler.epoch == 2


def test_same_seed_same_batches() -> None:
    def draw(seed: int) -> list[tuple[str, ...]]:
        s, rng = EpochSampler([str(i) for i in range(7)], 3), random.Random(seed)
        return [s.next_batch(rng) for _ in range(5)]

    assert draw(4) == draw(4)
    assert draw(4) != draw(5)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EpochSampler(["a"], 0)
