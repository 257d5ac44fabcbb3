"""Encoding of store records: plain JSON, never pickle; odd objects by repr.

Text that UTF-8 cannot hold (a lone surrogate such as ``"\\udce9"``, or an emoji cut in
half by ``max_tokens``) is stored losslessly: JSON values fall back to ``\\u`` escapes,
and plain TEXT columns (ids, feedback, errors) get an escaped form behind a marker
(`encode_text` / `decode_text`), so a paid rollout is never lost to an encoding error
and reads back exactly as it was.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Mapping, Sequence
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
        return _utf8_safe(
            json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False), value
        )
    except (TypeError, ValueError):
        pass
    plain = to_jsonable(value)
    text = _utf8_safe(json.dumps(plain, ensure_ascii=False, separators=(",", ":")), plain)
    if '"__repr__"' in text and what not in _warned:
        _warned.add(what)
        log.warning(
            "the %s of a record holds objects JSON cannot represent; they are stored by "
            'repr as {"__repr__": ...} (no pickle). Return plain data to keep them.',
            what,
        )
    return text


def _utf8_safe(text: str, value: Any) -> str:
    """`text`, or the ASCII-escaped JSON of `value` when `text` is not valid UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: \\u escapes read back exactly
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def loads(text: str | None) -> Any:
    """Inverse of `dumps` (a `__repr__` placeholder stays a placeholder)."""
    return None if text is None else json.loads(text)


TEXT_MARKER = "\ufdd0"
"""Starts the escaped form of a TEXT value (U+FDD0 is a noncharacter: never real text)."""


def encode_text(text: str | None) -> str | None:
    """`text` as stored in a TEXT column: itself, or an escaped form if UTF-8 cannot hold it."""
    if text is None or (text.isascii() and not text.startswith(TEXT_MARKER)):
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return TEXT_MARKER + json.dumps(text, ensure_ascii=True)
    if text.startswith(TEXT_MARKER):
        return TEXT_MARKER + json.dumps(text, ensure_ascii=True)
    return text


def decode_text(text: str | None) -> str | None:
    """Inverse of `encode_text`."""
    if text is None or not text.startswith(TEXT_MARKER):
        return text
    return str(json.loads(text[len(TEXT_MARKER) :]))


def row_checksum(values: Sequence[Any]) -> int:
    """CRC-32 of a row's stored values (as bound to SQLite), to detect damaged records."""
    blob = json.dumps(list(values), ensure_ascii=True, separators=(",", ":"))
    return zlib.crc32(blob.encode("ascii"))


ROLLOUT_COLUMNS = (
    "candidate_id, example_id, split, score, objectives, feedback, output, trace, usage, "
    "duration, error"
)


def rollout_row(r: Rollout) -> tuple[Any, ...]:
    """The values of `ROLLOUT_COLUMNS` for `r`."""
    feedback = r.feedback if r.feedback is None or isinstance(r.feedback, str) else str(r.feedback)
    return (
        encode_text(r.candidate_id),
        encode_text(r.example_id),
        r.split,
        float(r.score),
        dumps(dict(r.objectives), what="objectives"),
        encode_text(feedback),
        dumps(r.output, what="output"),
        dumps(r.trace, what="trace"),
        dumps(dict(r.usage), what="usage"),
        float(r.duration),
        encode_text(r.error),
    )


def rollout_from_row(row: tuple[Any, ...]) -> Rollout:
    """Inverse of `rollout_row`."""
    cid, eid, split, score, objectives, feedback, output, trace, usage, duration, error = row
    return Rollout(
        candidate_id=str(decode_text(cid)),
        example_id=str(decode_text(eid)),
        split=split,
        score=float(score),
        objectives=_mapping(loads(objectives)),
        feedback=decode_text(feedback),
        output=loads(output),
        trace=loads(trace),
        usage=_mapping(loads(usage)),
        duration=float(duration),
        error=decode_text(error),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value) if isinstance(value, Mapping) else {})
