"""The shared evaluation cache: rollouts reused across runs that point at one file.

Keyed by (evaluator id, candidate hash, example id, split). Several processes may
read and write the same file at once (SQLite WAL with a busy timeout); the first
rollout written for a key wins.

The draws of repeated evaluations (``eval_repeats``) are keyed by their draw id
(`gepakit.engine.draws.draw_id`: draw 0 is the plain example id), so a later run is
served the first N draws any run paid for, and a run without repeats draw 0. A run with
``reuse_evaluations=False`` takes no cache (`gepakit.optimize` refuses ``cache=`` then):
the cache only serves evaluations made before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from gepakit.engine.protocols import RolloutKey
from gepakit.errors import StoreError
from gepakit.store._codec import dumps, encode_text, loads
from gepakit.store._schema import CACHE_SCHEMA_VERSION, CACHE_TABLES, ensure_schema
from gepakit.store.memory import MemoryStore
from gepakit.types import Rollout

log = logging.getLogger("gepakit")


class EvalCache:
    """A SQLite file of rollouts shared by runs. Thread-safe.

    Args:
        path: the cache file; created with its directory if missing.

    Raises:
        StoreError: the file cannot be opened or written, or is damaged.
        SchemaVersionError: the file was written by an incompatible gepakit.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            ensure_schema(
                self._conn, "evaluation cache", CACHE_SCHEMA_VERSION, CACHE_TABLES, str(self.path)
            )
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the evaluation cache {self.path}: {exc}; check that the path is "
                "a writable gepakit cache file, or delete it to start an empty cache"
            ) from exc

    def get(self, evaluator_id: str, key: RolloutKey) -> Rollout | None:
        """The cached rollout for `key` under `evaluator_id`, or None."""
        cid, eid, split = key
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT data FROM rollouts WHERE evaluator_id = ? AND candidate_id = ? "
                    "AND example_id = ? AND split = ?",
                    (encode_text(evaluator_id), encode_text(cid), encode_text(eid), split),
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the evaluation cache {self.path}: {exc}") from exc
        if row is None:
            return None
        try:
            rollout = Rollout.from_dict(loads(row[0]))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning(
                "the evaluation cache %s holds a damaged record for candidate %s on example "
                "%r (%s); treating it as a miss (the rollout runs again)",
                self.path,
                cid,
                eid,
                exc,
            )
            return None
        if (rollout.candidate_id, rollout.example_id, rollout.split) != key:
            log.warning("the evaluation cache %s holds a damaged record; ignoring it", self.path)
            return None
        return rollout

    def put(self, evaluator_id: str, rollout: Rollout) -> None:
        """Add `rollout` unless the key is cached already."""
        data = dumps(rollout.to_dict(), what="rollout")
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR IGNORE INTO rollouts VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        encode_text(evaluator_id),
                        encode_text(rollout.candidate_id),
                        encode_text(rollout.example_id),
                        rollout.split,
                        data,
                        time.time(),
                    ),
                )
        except (sqlite3.Error, UnicodeError) as exc:
            raise StoreError(f"cannot write the evaluation cache {self.path}: {exc}") from exc

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM rollouts").fetchone()[0])

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._conn.close()


class CachedMemoryStore(MemoryStore):
    """A `MemoryStore` whose shared cache is an `EvalCache` file (cache= without run_dir)."""

    def __init__(self, cache: EvalCache, evaluator_id: str) -> None:
        super().__init__()
        self.cache = cache
        self.evaluator_id = evaluator_id

    def shared_rollout(self, key: RolloutKey) -> Rollout | None:
        return self.cache.get(self.evaluator_id, key)

    def put_rollout(self, rollout: Rollout) -> None:
        super().put_rollout(rollout)
        self.cache.put(self.evaluator_id, rollout)

    def close(self) -> None:
        """Close the cache file."""
        self.cache.close()
