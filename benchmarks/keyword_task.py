"""A deterministic simulated task shared by the gepakit-vs-gepa benchmarks.

Every example needs a few keywords in the instruction text; its score is the fraction
present and its feedback names the missing ones. The fake reflection (`propose`) adds
some of the keywords the feedback names, with noise seeded by a hash of its input, so
both optimizers face the same task, the same reflection behaviour and the same costs.

Evaluators and the proposer can sleep, to simulate LM latency, and count their calls.

With several `components`, example ``i`` depends only on component ``i % P`` (its
keywords must appear there), so lineages that improve different components lead on
different examples and merging them pays (the merge scenario). With ``useful < 1``
only that share of proposals tries to fix anything; the others add a keyword no
example needs (a low-acceptance task, like real LMs). With ``rewrite`` every proposal
also shuffles the words (the score is unchanged), as an LM rewriting the whole text
would: edits then never apply cleanly to another candidate. With ``tradeoff > 0`` every
keyword in the other components costs an example that much score (floored at 0), so
improving one component lowers the examples of the others a little: a child that
improves one part no longer dominates its parent, lineages that improve different
parts coexist on the frontier, and merging them pays most (the trade-off merge scenario).
``base`` is the score of an answer with none of its keywords (gepa 0.1.4's merge draws
the common ancestor with weights equal to the ancestors' mean scores and raises
ValueError when they are all 0, as the seed's are when ``base`` is 0).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

SEED_TEXT = "Answer the question."
MISSING = "missing keywords: "


@dataclass
class Counter:
    """Thread-safe call counter with total simulated latency."""

    calls: int = 0
    latency: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.latency += seconds


@dataclass
class KeywordTask:
    """Examples needing keywords; see the module docstring.

    Args:
        train_size / val_size: dataset sizes.
        num_keywords: size of the keyword pool.
        needs: keywords each example needs.
        cap: the score of a fully solved example (below 1.0 the task is never
            "perfect", so an optimizer keeps proposing until its budget is spent).
        rollout_sleep / reflect_sleep: simulated latency in seconds.
        seed: the seed of the task (which keywords each example needs).
    """

    train_size: int = 50
    val_size: int = 50
    num_keywords: int = 40
    needs: int = 3
    cap: float = 1.0
    rollout_sleep: float = 0.0
    reflect_sleep: float = 0.0
    seed: int = 0
    components: tuple[str, ...] = ("instruction",)
    useful: float = 1.0
    rewrite: bool = False
    tradeoff: float = 0.0
    base: float = 0.0
    rollouts: Counter = field(default_factory=Counter)
    reflections: Counter = field(default_factory=Counter)
    reflection_tokens: int = 0

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        pool = [f"kw{i:03d}" for i in range(self.num_keywords)]
        n = len(self.components)
        self.trainset = [
            {"id": f"t{i}", "needs": rng.sample(pool, self.needs), "part": self.components[i % n]}
            for i in range(self.train_size)
        ]
        self.valset = [
            {"id": f"v{i}", "needs": rng.sample(pool, self.needs), "part": self.components[i % n]}
            for i in range(self.val_size)
        ]
        self._lock = threading.Lock()

    @property
    def seed_candidate(self) -> dict[str, str]:
        return dict.fromkeys(self.components, SEED_TEXT)

    # -- the system under optimization ---------------------------------------

    def rollout(
        self, text: str | Mapping[str, str], example: Mapping[str, Any]
    ) -> tuple[float, str]:
        """(score, feedback) of `text` (or a candidate) on `example`, after the latency."""
        penalty = 0.0
        if not isinstance(text, str):
            part = example.get("part", self.components[0])
            if self.tradeoff:
                others = (w for name, t in text.items() if name != part for w in t.split())
                penalty = self.tradeoff * sum(1 for w in others if w.startswith("kw"))
            text = text[part]
        if self.rollout_sleep:
            time.sleep(self.rollout_sleep)
        self.rollouts.add(self.rollout_sleep)
        words = set(text.split())
        missing = [k for k in example["needs"] if k not in words]
        found = 1.0 - len(missing) / len(example["needs"])
        score = max(0.0, self.base + (self.cap - self.base) * found - penalty)
        feedback = MISSING + ", ".join(missing) if missing else "all required keywords present"
        return score, feedback

    # -- the fake reflection LM ----------------------------------------------

    def propose(
        self,
        candidate: Mapping[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components: Sequence[str],
    ) -> dict[str, str]:
        """New texts: add about 60% of the keywords the feedback names, sometimes drop one."""
        if self.reflect_sleep:
            time.sleep(self.reflect_sleep)
        self.reflections.add(self.reflect_sleep)
        # What an LM prompt would hold: the texts and the records (~4 characters a token).
        size = sum(len(candidate[c]) + len(str(reflective_dataset.get(c, []))) for c in components)
        with self._lock:
            self.reflection_tokens += size // 4
        out: dict[str, str] = {}
        for name in components:
            text = candidate[name]
            feedback = [
                str(r.get("Feedback", ""))
                for r in reflective_dataset.get(name, [])
                if r.get("Inputs", {}).get("part", name) == name
            ]
            digest = hashlib.sha256("\n".join([text, *feedback]).encode()).digest()
            rng = random.Random(int.from_bytes(digest[:8], "big"))
            words = text.split()
            if self.useful < 1.0 and rng.random() >= self.useful:  # useless: a word nobody needs
                words.append(f"zz{rng.randrange(10**6):06d}")
                if self.rewrite:
                    rng.shuffle(words)
                out[name] = " ".join(words)
                continue
            missing: list[str] = []
            for line in feedback:
                if line.startswith(MISSING):
                    for kw in line[len(MISSING) :].split(", "):
                        if kw not in words and kw not in missing:
                            missing.append(kw)
            add = [kw for kw in missing if rng.random() < 0.6] or missing[:1]
            keywords = [w for w in words if w.startswith("kw")]
            if keywords and rng.random() < 0.2:
                words.remove(rng.choice(keywords))
            words += add
            if self.rewrite:  # a whole new text each time: edits do not merge
                rng.shuffle(words)
            out[name] = " ".join(words)
        return out


# -- gepakit side -------------------------------------------------------------


def gepakit_evaluator(task: KeywordTask) -> Any:
    import gepakit

    def evaluate(candidate: Mapping[str, str], example: Mapping[str, Any]) -> gepakit.Score:
        score, feedback = task.rollout(candidate, example)
        return gepakit.Score(score, feedback=feedback, output={"part": example.get("part")})

    return evaluate


# -- gepa side ----------------------------------------------------------------


class GepaAdapter:
    """A `gepa.GEPAAdapter` over `KeywordTask`; batches run on a thread pool if given."""

    propose_new_texts = None

    def __init__(self, task: KeywordTask, threads: int = 0) -> None:
        self.task = task
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def evaluate(
        self, batch: list[dict[str, Any]], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        from gepa.core.adapter import EvaluationBatch

        def one(example: dict[str, Any]) -> tuple[float, str]:
            return self.task.rollout(candidate, example)

        results = list(self.pool.map(one, batch)) if self.pool else [one(ex) for ex in batch]
        trajectories = (
            [{"example": ex, "feedback": fb} for ex, (_, fb) in zip(batch, results, strict=True)]
            if capture_traces
            else None
        )
        return EvaluationBatch(
            outputs=[fb for _, fb in results],
            scores=[s for s, _ in results],
            trajectories=trajectories,
        )

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        records = [
            {"Inputs": t["example"], "Generated Outputs": out, "Feedback": t["feedback"]}
            for t, out in zip(eval_batch.trajectories, eval_batch.outputs, strict=True)
        ]
        return {name: list(records) for name in components_to_update}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


class SilentLogger:
    def log(self, message: str) -> None:
        pass
