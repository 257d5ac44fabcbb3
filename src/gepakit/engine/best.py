"""Which candidate is the best: the higher mean val score, compared where both were scored.

A candidate is usually scored on the whole valset. When it is not (the budget ran out
during its val evaluation, or `val_evaluation_policy` scores a subsample), its mean is
over a few examples and says little next to a mean over all of them: four lucky
examples would make it "the best". So candidates scored on different examples are
compared on the examples both were scored on.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def beats(new: Mapping[K, float], old: Mapping[K, float], new_mean: float, old_mean: float) -> bool:
    """Whether the candidate scored `new` (val example id -> score, mean `new_mean`) is
    better than the one scored `old`: higher mean when both were scored on the same
    examples (or share none), else a higher total on the examples they share."""
    if new.keys() == old.keys():
        return new_mean > old_mean
    common = sorted(new.keys() & old.keys(), key=repr)
    if not common:
        return new_mean > old_mean
    return sum(new[k] for k in common) > sum(old[k] for k in common)


def best_index(subscores: Sequence[Mapping[K, float]], means: Sequence[float]) -> int:
    """The best candidate (earliest on ties): each in turn replaces the best so far
    when it `beats` it, as the engine updates it when a candidate joins the pool."""
    best = 0
    for i in range(1, len(means)):
        if beats(subscores[i], subscores[best], means[i], means[best]):
            best = i
    return best
