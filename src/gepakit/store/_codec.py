"""JSON encoding of store records: plain JSON, never pickle; odd objects by repr."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gepakit.types import Rollout, to_jsonable

log = logging.getLogger("gepakit")

_warned: set[str] = set()


def dumps(value: Any, *, what: str = "value") -> str:
    """Compact JSON of `value`; objects JSON cannot hold are stored by repr.

    Such objects become ``{"__repr__": "..."}`` (see `gepakit.types.to_jsonable`), and a
    warning says so once per kind of field, so nobody mistakes them for the original.
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        pass
    text = json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    if '"__repr__"' in text and what not in _warned:
        _warned.add(what)
        log.warning(
            "the %s of a record holds objects JSON cannot represent; they are stored by "
            'repr as {"__repr__": ...} (no pickle). Return plain data to keep them.',
            what,
        )
    return text


def loads(text: str | None) -> Any:
    """Inverse of `dumps` (a `__repr__` placeholder stays a placeholder)."""
    return None if text is None else json.loads(text)


ROLLOUT_COLUMNS = (
    "candidate_id, example_id, split, score, objectives, feedback, output, trace, usage, "
    "duration, error"
)


def rollout_row(r: Rollout) -> tuple[Any, ...]:
    """The values of `ROLLOUT_COLUMNS` for `r`."""
    return (
        r.candidate_id,
        r.example_id,
        r.split,
        float(r.score),
        dumps(dict(r.objectives), what="objectives"),
        r.feedback if r.feedback is None or isinstance(r.feedback, str) else str(r.feedback),
        dumps(r.output, what="output"),
        dumps(r.trace, what="trace"),
        dumps(dict(r.usage), what="usage"),
        float(r.duration),
        r.error,
    )


def rollout_from_row(row: tuple[Any, ...]) -> Rollout:
    """Inverse of `rollout_row`."""
    cid, eid, split, score, objectives, feedback, output, trace, usage, duration, error = row
    return Rollout(
        candidate_id=cid,
        example_id=eid,
        split=split,
        score=score,
        objectives=_mapping(loads(objectives)),
        feedback=feedback,
        output=loads(output),
        trace=loads(trace),
        usage=_mapping(loads(usage)),
        duration=duration,
        error=error,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value) if isinstance(value, Mapping) else {})
