"""Tests of the shipped SNIPS intent data and its splits."""

from __future__ import annotations

from collections import Counter

import pytest

from gepakit.data import INTENT_LABELS, load_intent_dataset, load_intent_examples
from gepakit.errors import ConfigError


def test_all_examples_are_clean() -> None:
    rows = load_intent_examples()
    assert len(rows) == 693
    assert len({r["id"] for r in rows}) == 693
    assert {r["label"] for r in rows} == set(INTENT_LABELS)
    for row in rows:
        assert set(row) == {"id", "text", "label"}
        assert row["text"] == row["text"].strip()
        assert row["text"]
        assert not row["text"].lower().startswith("utterance:")
        assert "Intent:" not in row["text"]


def test_splits_are_disjoint_sized_and_deterministic() -> None:
    train, val, test = load_intent_dataset(seed=0)
    assert (len(train), len(val), len(test)) == (30, 30, 150)
    ids = [r["id"] for r in train + val + test]
    assert len(set(ids)) == len(ids)
    assert load_intent_dataset(seed=0) == (train, val, test)
    assert load_intent_dataset(seed=1)[0] != train


def test_splits_are_label_balanced() -> None:
    train, val, test = load_intent_dataset(seed=3, n_train=21, n_val=14, n_test=70)
    assert Counter(r["label"] for r in train) == dict.fromkeys(INTENT_LABELS, 3)
    assert Counter(r["label"] for r in val) == dict.fromkeys(INTENT_LABELS, 2)
    assert Counter(r["label"] for r in test) == dict.fromkeys(INTENT_LABELS, 10)
    counts = Counter(r["label"] for r in load_intent_dataset()[0])
    assert max(counts.values()) - min(counts.values()) <= 1


def test_returned_rows_are_fresh_copies() -> None:
    train, _, _ = load_intent_dataset()
    train[0]["text"] = "changed"
    assert load_intent_dataset()[0][0]["text"] != "changed"


@pytest.mark.parametrize("sizes", [(-1, 0, 0), (400, 200, 100)])
def test_bad_sizes_are_rejected(sizes: tuple[int, int, int]) -> None:
    with pytest.raises(ConfigError, match="at most 693"):
        load_intent_dataset(0, *sizes)
