"""Merge: combine two lineages component by component, without an LLM."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def ancestors(index: int, parents: Sequence[Sequence[int]]) -> set[int]:
    """Every ancestor of candidate `index` (not including itself)."""
    seen: set[int] = set()
    stack = list(parents[index])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(parents[node])
    return seen


@dataclass(frozen=True, slots=True)
class MergePlan:
    """Two candidates, their common ancestor and the merged texts."""

    first: int
    second: int
    ancestor: int
    texts: Mapping[str, str]


def _merged_texts(
    a: Mapping[str, str], b: Mapping[str, str], anc: Mapping[str, str], a_better: bool
) -> tuple[dict[str, str], bool]:
    """Take each component from the side that changed it; both changed -> `a` if `a_better`.

    Returns the texts and whether they differ from both sides (otherwise it is useless).
    """
    texts: dict[str, str] = {}
    for name in anc:
        ta, tb, t0 = a[name], b[name], anc[name]
        if tb in (ta, t0):  # same on both sides, or changed by `a` only
            texts[name] = ta
        elif ta == t0:  # changed by `b` only
            texts[name] = tb
        else:  # changed by both
            texts[name] = ta if a_better else tb
    return texts, texts != dict(a) and texts != dict(b)


def _desirable(a: Mapping[str, str], b: Mapping[str, str], anc: Mapping[str, str]) -> bool:
    """Some component was changed by one side only (GEPA's test for a useful ancestor)."""
    return any((anc[n] == a[n] or anc[n] == b[n]) and a[n] != b[n] for n in anc)


MAX_PAIRS = 400


def plan_merge(
    candidates: Sequence[Mapping[str, str]],
    parents: Sequence[Sequence[int]],
    aggregate: Sequence[float],
    pool: Sequence[int],
    tried: set[tuple[int, int, int]],
    known: Mapping[str, int],
    rng: random.Random,
    *,
    candidate_id: object = None,
    val_scores: Sequence[Mapping[str, float]] | None = None,
    overlap_floor: int = 0,
) -> MergePlan | None:
    """Find two candidates in `pool` worth merging and their merged texts.

    Pairs are looked at in a random order (up to `MAX_PAIRS` of them). The two must
    not descend from one another, must have been evaluated on at least
    `overlap_floor` common val examples (`val_scores`), and must share an ancestor no
    better than either where some component was changed by one side only. Where both
    sides changed a component the better side's text is taken; when that copies one of
    the two or a known candidate, the other side's text is tried before the triple is
    given up. A triple already tried, or a merge that reproduces a known candidate, is
    skipped. `known` maps candidate content ids to
    indices; `candidate_id` computes an id.
    """
    pool = sorted(set(pool))
    if len(pool) < 2:
        return None
    n_pairs = len(pool) * (len(pool) - 1) // 2
    if n_pairs <= MAX_PAIRS:
        pairs = [(i, j) for k, i in enumerate(pool) for j in pool[k + 1 :]]
        rng.shuffle(pairs)
    else:
        pairs = [tuple(sorted(rng.sample(pool, 2))) for _ in range(MAX_PAIRS)]
    lineage: dict[int, set[int]] = {}
    for i, j in pairs:
        if i not in lineage:
            lineage[i] = ancestors(i, parents)
        if j not in lineage:
            lineage[j] = ancestors(j, parents)
        anc_i, anc_j = lineage[i], lineage[j]
        if i in anc_j or j in anc_i:
            continue
        if val_scores is not None and len(val_scores[i].keys() & val_scores[j].keys()) < (
            overlap_floor
        ):
            continue
        common = sorted(
            a
            for a in anc_i & anc_j
            if aggregate[a] <= aggregate[i]
            and aggregate[a] <= aggregate[j]
            and (i, j, a) not in tried
            and _desirable(candidates[i], candidates[j], candidates[a])
        )
        rng.shuffle(common)
        for anc in common:
            tried.add((i, j, anc))
            a_better = aggregate[i] > aggregate[j] or (
                aggregate[i] == aggregate[j] and rng.random() < 0.5
            )
            for side in (a_better, not a_better):
                texts, mixes = _merged_texts(candidates[i], candidates[j], candidates[anc], side)
                if not mixes:
                    continue
                if callable(candidate_id) and candidate_id(texts) in known:
                    continue
                return MergePlan(i, j, anc, texts)
    return None


def merge_subsample(
    scores_a: Mapping[str, float],
    scores_b: Mapping[str, float],
    size: int,
    rng: random.Random,
) -> list[str]:
    """Val example ids to test a merge on, balanced between where each parent wins.

    Takes examples where `a` wins, where `b` wins, and ties in turn, then fills
    up with the rest, so the test looks where the parents differ.
    """
    ids = sorted(set(scores_a) & set(scores_b))
    a_wins = [i for i in ids if scores_a[i] > scores_b[i]]
    b_wins = [i for i in ids if scores_b[i] > scores_a[i]]
    ties = [i for i in ids if scores_a[i] == scores_b[i]]
    for group in (a_wins, b_wins, ties):
        rng.shuffle(group)
    chosen: list[str] = []
    groups = [a_wins, b_wins, ties]
    while len(chosen) < size and any(groups):
        for group in groups:
            if group and len(chosen) < size:
                chosen.append(group.pop())
    return chosen
