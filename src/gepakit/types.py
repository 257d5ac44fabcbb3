"""Records shared by every layer: candidates, examples, rollouts, proposals.

All records are frozen; change one with `dataclasses.replace`. Each has an explicit
`to_dict`/`from_dict` pair so runs are stored as JSON, never pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

SCHEMA_VERSION = 1

Split = Literal["train", "val"]


def to_jsonable(value: Any) -> Any:
    """Convert `value` to plain JSON data; objects JSON cannot hold become their repr.

    Objects with `to_dict()` or pydantic's `model_dump()` are converted through them.
    An unserializable object is stored as ``{"__repr__": repr(value)}`` so readers can
    tell it is not the original object.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    for method in ("to_dict", "model_dump", "toDict"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                return to_jsonable(fn())
            except Exception:
                break
    return {"__repr__": repr(value)}


def content_hash(value: Any, length: int = 16) -> str:
    """Stable hex digest of JSON-able content (sorted keys)."""
    blob = json.dumps(to_jsonable(value), sort_keys=True, ensure_ascii=False)
    # surrogatepass: text with a lone surrogate (a cut emoji) still gets a stable id
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Score:
    """What an evaluator returns for one example.

    Args:
        score: higher is better; a finite number, or a bool (True counts as 1.0).
        feedback: text telling the reflection LM what went right or wrong.
        output: the system's output, shown to the reflection LM and kept in results.
        trace: optional details; a mapping ``{component: {"inputs": ..., "outputs": ...}}``
            gives each component its own reflective record.
        objectives: optional per-objective scores, each with its own Pareto frontier.
    """

    score: float
    feedback: str | None = None
    output: Any = None
    trace: Any = None
    objectives: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """An immutable mapping component name -> text, identified by a content hash."""

    components: Mapping[str, str]
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        frozen = MappingProxyType(dict(sorted(self.components.items())))
        object.__setattr__(self, "components", frozen)
        object.__setattr__(self, "id", content_hash(dict(frozen)))

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> Candidate:
        """Build a candidate from a plain dict."""
        return cls(components=texts)

    def replace_texts(self, updates: Mapping[str, str]) -> Candidate:
        """Return a new candidate with some component texts replaced."""
        return Candidate(components={**self.components, **updates})

    def to_dict(self) -> dict[str, str]:
        return dict(self.components)


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One data instance with a stable id (given by the user or a content hash)."""

    id: str
    data: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollout:
    """One run of one candidate on one example: one metric call, one unit of budget."""

    candidate_id: str
    example_id: str
    split: Split
    score: float
    feedback: str | None = None
    output: Any = None
    trace: Any = None
    objectives: Mapping[str, float] = field(default_factory=lambda: _freeze(None))
    error: str | None = None
    duration: float = 0.0
    usage: Mapping[str, Any] = field(default_factory=lambda: _freeze(None))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "candidate_id": self.candidate_id,
            "example_id": self.example_id,
            "split": self.split,
            "score": self.score,
            "feedback": self.feedback,
            "output": to_jsonable(self.output),
            "trace": to_jsonable(self.trace),
            "objectives": dict(self.objectives),
            "error": self.error,
            "duration": self.duration,
            "usage": to_jsonable(self.usage),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rollout:
        return cls(
            candidate_id=d["candidate_id"],
            example_id=d["example_id"],
            split=d["split"],
            score=float(d["score"]),
            feedback=d.get("feedback"),
            output=d.get("output"),
            trace=d.get("trace"),
            objectives=_freeze(d.get("objectives")),
            error=d.get("error"),
            duration=float(d.get("duration", 0.0)),
            usage=_freeze(d.get("usage")),
        )


ProposalKind = Literal["reflection", "merge", "custom"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A new candidate made by reflection or merge, and what became of it.

    `decision` is one of ``accepted``, ``rejected``, ``skipped`` or ``failed``;
    `reason` says why in words.
    """

    index: int
    kind: ProposalKind
    parent_ids: tuple[str, ...]
    child_id: str | None
    components: tuple[str, ...]
    decision: str
    reason: str
    minibatch_ids: tuple[str, ...] = ()
    parent_scores: tuple[float, ...] = ()
    child_scores: tuple[float, ...] = ()
    prompts: Mapping[str, str] = field(default_factory=lambda: _freeze(None))
    replies: Mapping[str, str] = field(default_factory=lambda: _freeze(None))
    new_texts: Mapping[str, str] = field(default_factory=lambda: _freeze(None))
    metric_calls_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "parent_ids": list(self.parent_ids),
            "child_id": self.child_id,
            "components": list(self.components),
            "decision": self.decision,
            "reason": self.reason,
            "minibatch_ids": list(self.minibatch_ids),
            "parent_scores": list(self.parent_scores),
            "child_scores": list(self.child_scores),
            "prompts": dict(self.prompts),
            "replies": dict(self.replies),
            "new_texts": dict(self.new_texts),
            "metric_calls_at": self.metric_calls_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Proposal:
        return cls(
            index=int(d["index"]),
            kind=d["kind"],
            parent_ids=tuple(d["parent_ids"]),
            child_id=d.get("child_id"),
            components=tuple(d.get("components", ())),
            decision=d["decision"],
            reason=d["reason"],
            minibatch_ids=tuple(d.get("minibatch_ids", ())),
            parent_scores=tuple(float(x) for x in d.get("parent_scores", ())),
            child_scores=tuple(float(x) for x in d.get("child_scores", ())),
            prompts=_freeze(d.get("prompts")),
            replies=_freeze(d.get("replies")),
            new_texts=_freeze(d.get("new_texts")),
            metric_calls_at=int(d.get("metric_calls_at", 0)),
        )


def candidate_texts(candidates: Sequence[Candidate]) -> list[dict[str, str]]:
    """Plain dicts of the texts of `candidates`, in order."""
    return [c.to_dict() for c in candidates]
