"""Draws: the stored rollouts that make up one evaluation of (candidate, example, split).

With the defaults (``eval_repeats=1``, ``reuse_evaluations=True``) an evaluation is one
rollout under the key (candidate, example, split), reused for free whenever the same
pair is asked for again, and this module changes nothing.

For noisy evaluators:

- ``eval_repeats=N`` evaluates each (candidate, example) N times; each time is a
  *draw*, one metric call and one stored rollout, and the engine sees one rollout
  whose score is the mean of the N draws (see `fold`).
- ``reuse_evaluations=False`` never serves an evaluation from earlier ones: every
  request (a parent's minibatch again, a merge's subsample again in its val pass)
  takes fresh draws, as gepa does with ``cache_evaluation=False``.

Draw d of example e is stored under the example id ``draw_id(e, d)``: e itself for
d = 0 (so draw 0 is today's rollout, and the shared cache serves it to runs without
repeats), ``e + DRAW_MARK + str(d)`` after it. The key (candidate, draw id, split) is
the rollout key (candidate, example, split, draw), so the run store, the shared cache
and the replay log need no new column: a resumed run asks for the same draws in the
same order, finds those paid before in the store, and pays for none twice.

Which draws an evaluation uses: with reuse, draws 0..N-1 (the first N, whoever paid
them). Without reuse, the N lowest draws no earlier request of this run holds; a
request holds its draws once its budget is reserved, and gives them back only when a
resumed run re-issues requests whose results were not logged (they then get the same
draws again, in the same order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from gepakit.types import Example, Rollout, Split

if TYPE_CHECKING:
    from gepakit.engine.steps import Evaluate

DRAW_MARK = "\ufdd1"
"""Separates an example id from its draw number (a noncharacter: never in real ids)."""

Key = tuple[str, str, Split]


def draw_id(example_id: str, draw: int) -> str:
    """The stored example id of draw `draw` of `example_id` (itself for draw 0)."""
    return example_id if draw == 0 else f"{example_id}{DRAW_MARK}{draw}"


def split_draw(stored_id: str) -> tuple[str, int]:
    """(example id, draw) of a stored example id (inverse of `draw_id`)."""
    base, mark, draw = stored_id.rpartition(DRAW_MARK)
    if not mark or not draw.isdigit():
        return stored_id, 0
    return base, int(draw)


def public(rollout: Rollout) -> Rollout:
    """`rollout` with its example id, not its draw id (what sinks and error counts see)."""
    base, draw = split_draw(rollout.example_id)
    return rollout if draw == 0 else replace(rollout, example_id=base)


def fold(draws: Sequence[Rollout]) -> Rollout:
    """One rollout for the draws of one (candidate, example, split).

    The score (and each objective) is the mean over the draws. The output and trace
    are those of the lowest-scoring draw (the first of them), the one reflection learns
    most from. The feedback (one line) lists every draw's score, then each distinct
    feedback with the runs that gave it, lowest score first; when every draw scored the
    same with the same feedback it is that feedback unchanged. `error` is set only when
    every draw failed. One draw is returned as it is (relabelled to its example id).
    """
    if len(draws) == 1:
        return public(draws[0])
    worst = min(draws, key=lambda r: r.score)
    n = len(draws)
    names = {name for r in draws for name in r.objectives}
    objectives = {
        name: math.fsum(r.objectives.get(name, 0.0) for r in draws) / n for name in sorted(names)
    }
    failed = [r for r in draws if r.error]
    return replace(
        public(worst),
        score=math.fsum(r.score for r in draws) / n,
        objectives=objectives,
        feedback=_feedback(draws),
        error=worst.error if len(failed) == n else None,
        duration=math.fsum(r.duration for r in draws),
    )


def _feedback(draws: Sequence[Rollout]) -> str | None:
    texts = [r.feedback or (f"error: {r.error}" if r.error else "") for r in draws]
    if len({r.score for r in draws}) == 1 and len(set(texts)) == 1:
        return draws[0].feedback
    n = len(draws)
    mean = math.fsum(r.score for r in draws) / n
    scores = ", ".join(f"{r.score:g}" for r in draws)
    parts = [f"Scored {scores} in {n} runs of this example (mean {mean:.3g}; noisy)."]
    seen: dict[str, list[int]] = {}
    for k, text in enumerate(texts):
        if text:
            seen.setdefault(text, []).append(k)
    for text, runs in sorted(seen.items(), key=lambda item: draws[item[1][0]].score):
        which = " and ".join(", ".join(str(k + 1) for k in runs).rsplit(", ", 1))
        score = ", ".join(f"{draws[k].score:g}" for k in runs)
        label = "Run" if len(runs) == 1 else "Runs"
        parts.append(f"{label} {which} (score {score}): {text.rstrip('.')}.")
    return " ".join(parts)


def stored_evaluation(
    get: Callable[[Key], Rollout | None], key: Key, first: int, repeats: int
) -> Rollout | None:
    """The folded evaluation of `key` from draws first..first+repeats-1, or None if one
    of them is not stored (`get` reads one stored rollout by key)."""
    cid, eid, split = key
    draws = [get((cid, draw_id(eid, d), split)) for d in range(first, first + repeats)]
    if any(r is None for r in draws):
        return None
    return fold([r for r in draws if r is not None])


class Draws:
    """Maps evaluation requests to draws, and draws back to one rollout per example.

    Args:
        repeats: draws per (candidate, example) evaluation (``eval_repeats``).
        reuse: whether an evaluation may be served by earlier draws
            (``reuse_evaluations``).

    Used on the engine thread only.
    """

    def __init__(self, repeats: int = 1, reuse: bool = True) -> None:
        self.repeats = repeats
        self.reuse = reuse
        self.trivial = repeats == 1 and reuse
        """The defaults: every request maps to itself."""
        self._held: dict[Key, set[int]] = {}
        self._claims: dict[int, list[tuple[Key, int]]] = {}
        self._first: dict[Key, int] = {}

    def _draws(self, key: Key) -> list[int]:
        if self.reuse:
            return list(range(self.repeats))
        held = self._held.get(key, set())
        out: list[int] = []
        d = 0
        while len(out) < self.repeats:
            if d not in held:
                out.append(d)
            d += 1
        return out

    def expand(self, req: Evaluate) -> Evaluate:
        """The request for the draws of `req` (each example becomes `repeats` draw ids,
        in order), or `req` itself with the defaults."""
        if self.trivial:
            return req
        ids: list[str] = []
        for eid in req.example_ids:
            ids += [draw_id(eid, d) for d in self._draws((req.candidate.id, eid, req.split))]
        return replace(req, example_ids=tuple(ids), partial=False)

    def hold(self, job: int, expanded: Evaluate) -> None:
        """`job`'s request got its budget: no later request gets its draws (without reuse)."""
        if self.reuse:
            return
        claim: list[tuple[Key, int]] = []
        for did in expanded.example_ids:
            eid, d = split_draw(did)
            key: Key = (expanded.candidate.id, eid, expanded.split)
            self._held.setdefault(key, set()).add(d)
            claim.append((key, d))
        self._claims[job] = claim

    def release(self, job: int) -> None:
        """Give back the draws of `job`'s request (its result was never delivered)."""
        for key, d in self._claims.pop(job, ()):
            self._held[key].discard(d)

    def fold(self, job: int, req: Evaluate, draws: Sequence[Rollout | None]) -> list[Rollout]:
        """One rollout per example of `req` from the draws its expanded request got."""
        self._claims.pop(job, None)  # delivered: its draws stay held for good
        got = [r for r in draws if r is not None]
        if self.trivial:
            return got
        n = self.repeats
        out: list[Rollout] = []
        for k in range(0, len(got), n):
            group = got[k : k + n]
            base, first = split_draw(group[0].example_id)
            self._first[(req.candidate.id, base, req.split)] = first
            out.append(fold(group))
        return out

    def first_draws(self, candidate_id: str, example_ids: Sequence[str]) -> dict[str, int]:
        """Example -> first draw of the latest val evaluation of the candidate there, for
        the examples where it is not draw 0 (empty with reuse: always draw 0)."""
        out: dict[str, int] = {}
        for eid in example_ids:
            first = self._first.get((candidate_id, eid, "val"), 0)
            if first:
                out[eid] = first
        return out

    def example(self, examples: Mapping[str, Example], stored_id: str) -> Example:
        """The example a draw runs on, with the draw's id (the evaluator sees its data)."""
        base, draw = split_draw(stored_id)
        example = examples[base]
        return example if draw == 0 else Example(id=stored_id, data=example.data)


def public_id(stored_id: str) -> str:
    """The example id of a stored (draw) example id."""
    return split_draw(stored_id)[0]
