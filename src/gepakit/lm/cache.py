"""`CachedLM`: a SQLite response cache keyed by model, messages and sampling params."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..types import to_jsonable
from .base import LM, Completion, Message

SCHEMA_VERSION = 1

# Params that change how a call is made, not what it returns.
_NON_SEMANTIC_PARAMS = frozenset({"timeout", "extra_headers", "user", "metadata"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
);
"""


def _default_params(lm: Any) -> dict[str, Any]:
    """Sampling defaults configured on `lm` or an LM it wraps (outermost wins)."""
    merged: dict[str, Any] = {}
    for _ in range(32):
        if lm is None:
            break
        merged = {**(getattr(lm, "default_params", None) or {}), **merged}
        lm = getattr(lm, "inner", None)
    return merged


class CachedLM:
    """Wrap an `LM` with a persistent response cache in a SQLite file.

    The key is the sha256 of (model, messages, sampling params). With ``temperature > 0``
    the key also holds a sample index: the n-th identical call made through this instance
    gets index n, so repeated sampling is not collapsed into one answer, while a re-run of
    the same program (a new instance on the same file) gets the same answers in the same
    order. A call without a temperature (here or in the wrapped LM's ``default_params``)
    is treated as deterministic. Thread-safe: one connection guarded by a lock.

    Args:
        inner: The LM to call on a miss.
        path: SQLite file; created with its parent directory if missing.

    Raises:
        StoreError: The file is not a cache of this version.
    """

    def __init__(self, inner: LM, path: str | Path) -> None:
        self.inner = inner
        self.model = inner.model
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._samples: dict[str, int] = {}
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._finalizer = weakref.finalize(self, self._conn.close)
        self._setup()

    def __repr__(self) -> str:
        return f"CachedLM({self.inner!r}, path={str(self.path)!r})"

    def _setup(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row[0] != str(SCHEMA_VERSION):
            raise StoreError(
                f"LM cache {self.path} has schema version {row[0]}, this gepakit reads "
                f"{SCHEMA_VERSION}. Delete the file or point cache_path elsewhere."
            )

    def close(self) -> None:
        """Close the database connection."""
        self._finalizer()

    def __enter__(self) -> CachedLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def key(self, messages: Sequence[Message], params: dict[str, Any]) -> str:
        """The cache key of the next call with these arguments (advances the sample index)."""
        semantic = {k: v for k, v in params.items() if k not in _NON_SEMANTIC_PARAMS}
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": to_jsonable(list(messages)),
            "params": to_jsonable(semantic),
        }
        base = _digest(payload)
        temperature = params.get("temperature", _default_params(self.inner).get("temperature"))
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            return base
        with self._lock:
            index = self._samples.get(base, 0)
            self._samples[base] = index + 1
        return _digest({"base": base, "sample": index})

    def get(self, key: str) -> Completion | None:
        """The cached completion under `key` (marked ``cached=True``), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT completion FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        known = {f.name for f in dataclasses.fields(Completion)}
        return Completion(
            **{k: v for k, v in data.items() if k in known and k != "cached"}, cached=True
        )

    def put(self, key: str, completion: Completion) -> None:
        """Store `completion` under `key`; an existing entry is kept."""
        blob = json.dumps(dataclasses.asdict(dataclasses.replace(completion, cached=False)))
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO completions (key, model, completion) VALUES (?, ?, ?)",
                (key, completion.model or self.model, blob),
            )

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Return the cached reply, or call the inner LM and store its reply."""
        key = self.key(messages, params)
        hit = self.get(key)
        if hit is not None:
            return hit
        completion = self.inner.complete(messages, **params)
        self.put(key, completion)
        return completion

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete` (SQLite reads are fast enough to stay on the loop)."""
        key = self.key(messages, params)
        hit = self.get(key)
        if hit is not None:
            return hit
        completion = await self.inner.acomplete(messages, **params)
        self.put(key, completion)
        return completion


def _digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()
