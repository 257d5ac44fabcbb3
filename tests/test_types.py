"""Records: frozen, content-addressed candidates, and JSON conversion."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from gepakit.types import Candidate, Proposal, Rollout, content_hash, to_jsonable


def test_candidate_id_is_a_content_hash_independent_of_key_order() -> None:
    a = Candidate.of({"x": "1", "y": "2"})
    b = Candidate.of({"y": "2", "x": "1"})
    assert a.id == b.id and a == b
    assert list(a.components) == ["x", "y"]
    assert Candidate.of({"x": "1", "y": "3"}).id != a.id
    assert a.replace_texts({"y": "3"}).id == Candidate.of({"x": "1", "y": "3"}).id


def test_candidate_is_frozen_all_the_way_down() -> None:
    source = {"x": "1"}
    cand = Candidate.of(source)
    source["x"] = "changed"
    assert cand.components["x"] == "1"
    with pytest.raises(TypeError):
        cand.components["x"] = "2"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.id = "other"  # type: ignore[misc]


def test_rollout_round_trip() -> None:
    rollout = Rollout(
        candidate_id="c",
        example_id="e",
        split="val",
        score=0.5,
        feedback="ok",
        output={"label": "a", "probs": (0.1, 0.9)},
        trace={"p": {"inputs": 1}},
        objectives={"speed": 1.0},
        error=None,
        duration=0.25,
        usage={"tokens": 3},
    )
    data = rollout.to_dict()
    assert data["schema_version"] == 1
    again = Rollout.from_dict(data)
    assert again.to_dict() == data
    assert again.output == {"label": "a", "probs": [0.1, 0.9]}


def test_proposal_round_trip() -> None:
    proposal = Proposal(
        index=3,
        kind="reflection",
        parent_ids=("p",),
        child_id="c",
        components=("a",),
        decision="rejected",
        reason="no gain",
        minibatch_ids=("t1", "t2"),
        parent_scores=(0.0, 1.0),
        child_scores=(0.0, 0.5),
        prompts={"a": "prompt"},
        replies={"a": "reply"},
        new_texts={"a": "text"},
        metric_calls_at=12,
    )
    assert Proposal.from_dict(proposal.to_dict()) == proposal


class WithToDict:
    def to_dict(self) -> dict[str, Any]:
        return {"k": 1}


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (3, 3),
        ("s", "s"),
        (1.5, 1.5),
        (math.nan, "nan"),
        (math.inf, "inf"),
        ((1, [2, {"a": (3,)}]), [1, [2, {"a": [3]}]]),
        ({1: "x"}, {"1": "x"}),
        (WithToDict(), {"k": 1}),
        (Opaque(), {"__repr__": "<opaque>"}),
    ],
)
def test_to_jsonable(value: Any, expected: Any) -> None:
    assert to_jsonable(value) == expected


def test_content_hash_is_stable() -> None:
    assert content_hash({"b": 1, "a": 2}) == content_hash({"a": 2, "b": 1})
    assert len(content_hash("x", length=8)) == 8
