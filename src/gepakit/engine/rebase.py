"""Rebasing a stale child: apply its edit to a newer, better descendant of its parent.

With several proposals in flight, a proposal is often built on a parent that a
sibling has improved on meanwhile. Its child, compared with the old parent, would
join the pool as a sibling of the new best rather than a step beyond it. When the
child's edit applies cleanly to that descendant (a word-level three-way merge with
no overlapping changes), the engine tests the rebased text against the descendant
on the same minibatch and, if it wins, validates it in place of the stale child.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from gepakit.engine.merge import ancestors

_TOKENS = re.compile(r"(\s+)")


def three_way(base: str, ours: str, theirs: str) -> str | None:
    """`theirs` with the change from `base` to `ours` applied, or None on a conflict.

    Works on words and the whitespace between them; a change conflicts when `theirs`
    changed any of the words it touches or a word next to where it inserts. Where both
    inserted at the same place, ours comes after theirs.
    """
    if ours in (base, theirs):
        return theirs
    if theirs == base:
        return ours
    b, o, t = _TOKENS.split(base), _TOKENS.split(ours), _TOKENS.split(theirs)
    where: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, b, t, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            where[block.a + k] = block.b + k
    edits: list[tuple[int, int, list[str]]] = []
    ops = difflib.SequenceMatcher(None, b, o, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        if i2 > i1:  # replace or delete base[i1:i2]: it must be untouched in theirs
            span = [where.get(i) for i in range(i1, i2)]
            if any(p is None for p in span):
                return None
            starts = [p for p in span if p is not None]
            if starts != list(range(starts[0], starts[0] + len(starts))):
                return None
            edits.append((starts[0], starts[-1] + 1, o[j1:j2]))
        else:  # insert before base[i1], after what theirs inserted there
            left_ok = i1 == 0 or (i1 - 1) in where
            if i1 < len(b) and i1 in where and left_ok:
                pos = where[i1]
            elif i1 == len(b) and left_ok:
                pos = len(t)
            else:
                return None
            edits.append((pos, pos, o[j1:j2]))
    out = list(t)
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out[start:end] = new
    return "".join(out)


def kept_share(base: str, new: str) -> float:
    """The share of `base`'s words that `new` keeps in place (in matching runs), 1.0
    for an empty `base`. An edit that keeps less than half rewrote the text: it touches
    every part another edit could change, so neither rebases onto the other."""
    b, n = base.split(), new.split()
    if not b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, b, n, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(b)


def newer_descendant(
    parent: int,
    since: int,
    parents: Sequence[Sequence[int]],
    aggregate: Sequence[float],
) -> int | None:
    """The best candidate added at index `since` or later that descends from `parent`
    and scores above it (the newest on ties), or None."""
    best: int | None = None
    for index in range(since, len(parents)):
        if aggregate[index] <= aggregate[parent] or parent not in ancestors(index, parents):
            continue
        if best is None or aggregate[index] >= aggregate[best]:
            best = index
    return best


def rebased_texts(
    parent: Mapping[str, str], child: Mapping[str, str], target: Mapping[str, str]
) -> dict[str, str] | None:
    """`target`'s texts with the child's edits (relative to `parent`) applied, or None
    when an edit conflicts or changes nothing in `target`."""
    out = dict(target)
    changed = False
    for name, text in child.items():
        if text == parent[name]:
            continue
        merged = three_way(parent[name], text, target[name])
        if merged is None:
            return None
        changed = changed or merged != target[name]
        out[name] = merged
    return out if changed else None
