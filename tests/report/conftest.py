"""Runs to report on: a real optimization with a scripted task, and a hand-made merge."""

from __future__ import annotations

import random
import re

import pytest

import gepakit
from gepakit import Proposal, Result, Score
from gepakit.types import Candidate

XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
LABELS = "abcdefgh"


def _letters(text: str) -> set[str]:
    return set(re.findall(r"\[([a-h])\]", text))


def _evaluate(candidate: dict[str, str], example: dict[str, str]) -> Score:
    """Right when the label is in a component that lists at most 3 labels."""
    label = example["label"]
    ok = any(label in _letters(t) and len(_letters(t)) <= 3 for t in candidate.values())
    return Score(
        1.0 if ok else 0.0,
        feedback=f"expected {label} {XSS}",
        output=label if ok else "?",
    )


def make_run_result() -> Result:
    """A small deterministic run whose prompts, replies and feedback carry an XSS payload."""
    rng = random.Random(1)

    def reflect(prompt: str) -> str:
        current = _letters(prompt.split("```")[1] if "```" in prompt else "")
        letters = {*current, rng.choice(LABELS)}
        if len(letters) > 3 or rng.random() < 0.3:
            letters.discard(rng.choice(sorted(letters)))
        shown = " ".join(f"[{x}]" for x in sorted(letters))
        return f"```\nClassify the item.\nLabels: {shown}\n{XSS}\n```"

    data = [{"id": f"e{i}", "text": f"item {i}", "label": LABELS[i % 8]} for i in range(24)]
    return gepakit.optimize(
        {"instructions": "Classify the item.\nLabels: [a]", "hints": "Hint: [b]"},
        data[:12],
        data[12:],
        evaluator=_evaluate,
        reflection_lm=reflect,
        max_metric_calls=200,
        progress=False,
    )


@pytest.fixture(scope="session")
def run_result() -> Result:
    return make_run_result()


def make_merge_result() -> Result:
    """Seed 0 -> 1 and 0 -> 2 by reflection, 3 merges 1 and 2; one rejected proposal."""
    texts = [
        {"a": "alpha", "b": "beta"},
        {"a": "alpha one", "b": "beta"},
        {"a": "alpha", "b": "beta two"},
        {"a": "alpha one", "b": "beta two"},
    ]
    ids = [Candidate(components=t).id for t in texts]
    sub = [
        {"x": 0.0, "y": 0.0, "z": 1.0},
        {"x": 1.0, "y": 0.0, "z": 1.0},
        {"x": 0.0, "y": 1.0, "z": 0.0},
        {"x": 1.0, "y": 1.0, "z": 0.5},
    ]
    proposals = (
        Proposal(
            index=0, kind="reflection", parent_ids=(ids[0],), child_id=ids[1],
            components=("a",), decision="accepted", reason="improved",
            prompts={"a": "improve a " + XSS}, replies={"a": "```alpha one```"},
            new_texts={"a": "alpha one"}, metric_calls_at=9,
        ),
        Proposal(
            index=1, kind="reflection", parent_ids=(ids[0],), child_id=None,
            components=("b",), decision="rejected", reason="no gain " + XSS,
            prompts={"b": "improve b"}, replies={"b": "```beta zero```"},
            new_texts={"b": "beta zero"}, metric_calls_at=15,
        ),
        Proposal(
            index=2, kind="reflection", parent_ids=(ids[0],), child_id=ids[2],
            components=("b",), decision="accepted", reason="improved",
            prompts={"b": "improve b"}, replies={"b": "```beta two```"},
            new_texts={"b": "beta two"}, metric_calls_at=21,
        ),
        Proposal(
            index=3, kind="merge", parent_ids=(ids[1], ids[2]), child_id=ids[3],
            components=("a", "b"), decision="accepted", reason="merged",
            metric_calls_at=30,
        ),
    )  # fmt: skip
    return Result(
        candidates=tuple(texts),
        parents=((), (0,), (0,), (1, 2)),
        origins=("seed", "reflection", "reflection", "merge"),
        val_aggregate_scores=tuple(sum(s.values()) / 3 for s in sub),
        val_subscores=tuple(sub),
        per_val_instance_best_candidates={
            "x": frozenset({1, 3}),
            "y": frozenset({2, 3}),
            "z": frozenset({0, 1}),
        },
        discovery_eval_counts=(3, 12, 24, 33),
        total_metric_calls=33,
        num_full_val_evals=4,
        max_metric_calls=40,
        proposals=proposals,
        usage={
            "schema_version": 1,
            "roles": {
                "task": {
                    "calls": 30,
                    "prompt_tokens": 900,
                    "completion_tokens": 60,
                    "cost_usd": 0.01,
                },
                "reflection": {
                    "calls": 3,
                    "prompt_tokens": 1200,
                    "completion_tokens": 300,
                    "cost_usd": None,
                    "unpriced_calls": 3,
                },
            },
        },
        stop_reason="budget exhausted",
    )


@pytest.fixture
def merge_result() -> Result:
    return make_merge_result()


def make_large_result(n: int = 500, val: int = 100, proposals_per_candidate: int = 3) -> Result:
    """A synthetic run of `n` candidates, as a long search makes: deep lineages, merges,
    several rejected proposals per candidate, examples every candidate fails or solves."""
    rng = random.Random(7)
    val_ids = [f"v{k:03d}" for k in range(val)]
    texts: list[dict[str, str]] = []
    parents: list[tuple[int, ...]] = []
    origins: list[str] = []
    subscores: list[dict[str, float]] = []
    for i in range(n):
        if i == 0:
            ps: tuple[int, ...] = ()
            origin = "seed"
        elif i % 25 == 0:
            ps = tuple(sorted(rng.sample(range(i), 2)))
            origin = "merge"
        else:
            ps = (rng.randrange(max(0, i - 40), i),)
            origin = "reflection"
        base = texts[ps[0]]["instructions"] if ps else "Answer the question."
        texts.append(
            {"instructions": f"{base}\nRule {i}: think about case {i % 17}.", "tone": "plain"}
        )
        parents.append(ps)
        origins.append(origin)
        skill = min(0.95, 0.2 + i / (1.4 * n))
        scores = {}
        for k, eid in enumerate(val_ids):
            if k < 5:
                scores[eid] = 0.0  # failed by every candidate
            elif k < 10:
                scores[eid] = 1.0  # solved by every candidate
            else:
                scores[eid] = 1.0 if i and rng.random() < skill else 0.0
        subscores.append(scores)
    best: dict[str, frozenset[int]] = {}
    for eid in val_ids:
        top = max(s[eid] for s in subscores)
        best[eid] = frozenset(i for i, s in enumerate(subscores) if s[eid] == top)
    ids = [Candidate(components=t).id for t in texts]
    props: list[Proposal] = []
    for i in range(1, n):
        for k in range(proposals_per_candidate):
            accepted = k == proposals_per_candidate - 1
            props.append(
                Proposal(
                    index=len(props),
                    kind="merge" if origins[i] == "merge" else "reflection",
                    parent_ids=tuple(ids[p] for p in parents[i]),
                    child_id=ids[i] if accepted else None,
                    components=("instructions",),
                    decision="accepted" if accepted else rng.choice(["rejected", "skipped"]),
                    reason="improved" if accepted else f"no gain on minibatch ({i}.{k})",
                    prompts={"instructions": f"Improve the text. Case {i}.{k}. " + "x " * 200},
                    replies={"instructions": f"```\nRule {i}.{k}\n```"},
                    new_texts={"instructions": f"Rule {i}.{k}"},
                    metric_calls_at=10 * len(props),
                )
            )
    return Result(
        candidates=tuple(texts),
        parents=tuple(parents),
        origins=tuple(origins),
        val_aggregate_scores=tuple(sum(s.values()) / val for s in subscores),
        val_subscores=tuple(subscores),
        per_val_instance_best_candidates=best,
        discovery_eval_counts=tuple(10 * i * proposals_per_candidate for i in range(n)),
        total_metric_calls=10 * len(props),
        num_full_val_evals=n,
        max_metric_calls=10 * len(props) + 10,
        proposals=tuple(props),
        stop_reason="budget exhausted",
    )


@pytest.fixture(scope="session")
def large_result() -> Result:
    return make_large_result()
