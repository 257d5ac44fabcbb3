"""Small datasets shipped with gepakit, for the demo, the docs and tests.

`intent_recognition.jsonl` holds the 693 SNIPS utterances of BIG-bench's
`intent_recognition` task (Apache-2.0); see `SOURCE.md` next to it.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from functools import lru_cache
from importlib import resources

from gepakit.errors import ConfigError

__all__ = ["INTENT_LABELS", "load_intent_dataset", "load_intent_examples"]

INTENT_LABELS: tuple[str, ...] = (
    "add_to_playlist",
    "book_restaurant",
    "get_weather",
    "play_music",
    "rate_book",
    "search_creative_work",
    "search_screening_event",
)
"""The seven intents of the SNIPS data, sorted."""

_INTENT_FILE = "intent_recognition.jsonl"


@lru_cache(maxsize=1)
def _read_intent_rows() -> tuple[tuple[str, str, str], ...]:
    text = resources.files(__name__).joinpath(_INTENT_FILE).read_text(encoding="utf-8")
    rows = (json.loads(line) for line in text.splitlines() if line.strip())
    return tuple((row["id"], row["text"], row["label"]) for row in rows)


def load_intent_examples() -> list[dict[str, str]]:
    """All 693 intent examples in source order.

    Returns:
        A new list of dicts with keys ``id``, ``text`` and ``label``.
    """
    return [{"id": i, "text": t, "label": label} for i, t, label in _read_intent_rows()]


def _interleave_by_label(rows: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    """Shuffle within each label, then deal the labels round-robin.

    Every prefix of the result is close to label-balanced, so consecutive slices make
    stratified-ish splits of any size.
    """
    by_label: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    queues = [by_label[label] for label in sorted(by_label)]
    for queue in queues:
        rng.shuffle(queue)
    dealt: list[dict[str, str]] = []
    for position in range(max(len(q) for q in queues)):
        turn = [q[position] for q in queues if position < len(q)]
        rng.shuffle(turn)
        dealt.extend(turn)
    return dealt


def load_intent_dataset(
    seed: int = 0, n_train: int = 30, n_val: int = 30, n_test: int = 150
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """Fixed-seed, label-balanced train/val/test splits of the SNIPS intent data.

    The three splits are disjoint; the same seed always gives the same splits.

    Args:
        seed: seed of the shuffle.
        n_train: number of training examples (for reflection minibatches).
        n_val: number of validation examples (for the Pareto frontier).
        n_test: number of held-out test examples.

    Returns:
        ``(train, val, test)``, lists of dicts with keys ``id``, ``text`` and ``label``.

    Raises:
        ConfigError: a size is negative or the sizes add up to more than 693.
    """
    rows = load_intent_examples()
    sizes = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    if any(size < 0 for size in sizes.values()) or sum(sizes.values()) > len(rows):
        raise ConfigError(
            f"split sizes {sizes} must be non-negative and add up to at most {len(rows)}, "
            "the number of intent examples; lower one of them"
        )
    dealt = _interleave_by_label(rows, random.Random(seed))
    train = dealt[:n_train]
    val = dealt[n_train : n_train + n_val]
    test = dealt[n_train + n_val : n_train + n_val + n_test]
    return train, val, test
