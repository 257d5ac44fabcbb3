"""`SQLiteStore`: a run persisted in one SQLite file, ``run_dir/run.db``.

Durability: every `RunStore` call is one small transaction (WAL journal,
``synchronous=NORMAL``). A committed write survives the process being killed at
any moment (SIGKILL included); only an OS crash or power loss may drop the last
few commits, which resume then simply redoes. Rollouts are *not* buffered: a
metric call that completed and was recorded is never paid again. Writing one
rollout costs a few tens of microseconds (see ``benchmarks/store_bench.py``),
so batching would buy little and could lose paid work on a crash.

Reads that resume needs on every step are served from memory: the keys of the
rollouts this run paid for (and of cache hits it used) are loaded when the store
opens, so `own_rollout` misses are a dict lookup and hits one primary-key read.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gepakit.engine.protocols import RolloutKey
from gepakit.errors import StoreError
from gepakit.store._codec import ROLLOUT_COLUMNS, dumps, loads, rollout_from_row, rollout_row
from gepakit.store._schema import (
    RUN_SCHEMA_VERSION,
    RUN_TABLES,
    check_readonly_schema,
    ensure_schema,
)
from gepakit.store.cache import EvalCache
from gepakit.store.lock import RunLock
from gepakit.types import Candidate, Example, Proposal, Rollout

log = logging.getLogger("gepakit")

DB_NAME = "run.db"
_INSERT_ROLLOUT = (
    f"INSERT OR REPLACE INTO rollouts (paid, evaluator_id, created, {ROLLOUT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore:
    """A `RunStore` in ``run_dir/run.db``, optionally backed by a shared `EvalCache`.

    A writer holds ``run_dir/.lock`` until `close` (a second writer gets
    `RunInUseError`). ``readonly=True`` opens without the lock, for status and export
    while a run may be going on; writes then raise `StoreError`.
    Thread-safe: one connection guarded by a lock.

    Args:
        run_dir: the run directory (created if missing, unless readonly).
        cache: a shared evaluation cache (path or `EvalCache`), or None.
        evaluator_id: the key of this run's rollouts in the shared cache.
        readonly: open an existing run for reading only.

    Raises:
        RunInUseError: another process has the run open for writing.
        StoreError: the directory or file cannot be written, or the file is damaged.
        SchemaVersionError: the file was written by an incompatible gepakit.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        cache: EvalCache | str | Path | None = None,
        evaluator_id: str = "default",
        readonly: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self.readonly = readonly
        self.evaluator_id = evaluator_id
        self._lock = threading.RLock()
        self._run_lock: RunLock | None = None
        self._own: dict[RolloutKey, int] = {}
        self._borrowed: dict[RolloutKey, int] = {}
        self._candidates: set[int] = set()
        self._proposals: set[int] = set()
        self._steps: set[tuple[int, int]] = set()
        self._n_deliveries = 0
        self._closed = False
        self._owns_cache = False
        self.cache: EvalCache | None = None
        if readonly:
            self._conn = self._connect_reader()
        else:
            self._conn = self._connect_writer()
        try:
            self._load_index()
            self._owns_cache = isinstance(cache, (str, Path))
            self.cache = EvalCache(cache) if isinstance(cache, (str, Path)) else cache
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------

    def _connect_writer(self) -> sqlite3.Connection:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run directory {self.run_dir}: {exc}") from exc
        self._run_lock = RunLock(self.run_dir)
        self._run_lock.acquire()
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._check_integrity(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=4000")  # fewer checkpoint fsyncs
            ensure_schema(conn, "run", RUN_SCHEMA_VERSION, RUN_TABLES, str(self.path))
            # Prove the file is writable now, before any LM call is made.
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_opened', ?)", (dumps(time.time()),)
            )
        except sqlite3.Error as exc:
            self._run_lock.release()
            raise self._open_error(exc) from exc
        except BaseException:
            self._run_lock.release()
            raise
        return conn

    def _connect_reader(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no gepakit run in {self.run_dir} (no {DB_NAME})")
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._check_integrity(conn)
            check_readonly_schema(conn, "run", RUN_SCHEMA_VERSION, str(self.path))
            conn.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        return conn

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise StoreError(
                f"the run store {self.path} is damaged ({'; '.join(problems[:3])}); restore "
                "it from a backup or start a new run_dir. Nothing was read from it."
            )

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            hint = "the run directory and run.db must be writable; choose another run_dir"
        elif "full" in text:
            hint = "the disk is full; free some space or choose another run_dir"
        elif "not a database" in text or "malformed" in text:
            hint = "the file is damaged; restore it from a backup or start a new run_dir"
        else:
            hint = "check the file and its directory"
        return StoreError(f"cannot open the run store {self.path}: {text}; {hint}")

    def _load_index(self) -> None:
        for seq, cid, eid, split, paid in self._conn.execute(
            "SELECT seq, candidate_id, example_id, split, paid FROM rollouts"
        ):
            (self._own if paid else self._borrowed)[(cid, eid, split)] = seq
        self._candidates = {r[0] for r in self._conn.execute("SELECT idx FROM candidates")}
        self._proposals = {r[0] for r in self._conn.execute("SELECT idx FROM proposals")}
        self._steps = {(j, s) for j, s in self._conn.execute("SELECT job, step FROM step_results")}
        self._n_deliveries = self._conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]

    # -- writing helpers -----------------------------------------------------

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self.readonly:
            raise StoreError(f"the run store {self.path} was opened read-only")
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot write to the run store {self.path}: {exc} (disk full or "
                "read-only? the run stops here; fix it and resume with the same run_dir)"
            ) from exc

    def _read_rollout(self, seq: int) -> Rollout:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE seq = ?", (seq,)
            ).fetchone()
        return rollout_from_row(row)

    # -- RunStore ------------------------------------------------------------

    def own_rollout(self, key: RolloutKey) -> Rollout | None:
        """A rollout this run already paid for, or None (a dict lookup on a miss)."""
        seq = self._own.get(key)
        return None if seq is None else self._read_rollout(seq)

    def shared_rollout(self, key: RolloutKey) -> Rollout | None:
        """A cache hit: one this run used before, else one from the shared cache.

        A fresh hit is copied into this run (unpaid), so a resume replays the same
        hits even if the shared cache changes or disappears.
        """
        seq = self._borrowed.get(key)
        if seq is not None:
            return self._read_rollout(seq)
        if self.cache is None:
            return None
        rollout = self.cache.get(self.evaluator_id, key)
        if rollout is not None and not self.readonly:
            with self._lock:
                cur = self._write(
                    _INSERT_ROLLOUT, (0, self.evaluator_id, time.time(), *rollout_row(rollout))
                )
                self._borrowed[key] = int(cur.lastrowid or 0)
        return rollout

    def put_rollout(self, rollout: Rollout) -> None:
        """Record a paid rollout (one transaction), then add it to the shared cache."""
        key: RolloutKey = (rollout.candidate_id, rollout.example_id, rollout.split)
        row = rollout_row(rollout)
        with self._lock:
            cur = self._write(_INSERT_ROLLOUT, (1, self.evaluator_id, time.time(), *row))
            self._own[key] = int(cur.lastrowid or 0)
            self._borrowed.pop(key, None)
        if self.cache is not None:
            self.cache.put(self.evaluator_id, rollout)

    def put_candidate(
        self, index: int, candidate: Candidate, parents: Sequence[int], info: Mapping[str, Any]
    ) -> None:
        """Record candidate `index` (idempotent: a replayed write keeps the first row)."""
        with self._lock:
            if index in self._candidates:
                return
            self._write(
                "INSERT OR IGNORE INTO candidates VALUES (?, ?, ?, ?, ?)",
                (
                    index,
                    candidate.id,
                    dumps(dict(candidate.components)),
                    dumps(list(parents)),
                    dumps(dict(info), what="candidate info"),
                ),
            )
            self._candidates.add(index)

    def put_proposal(self, proposal: Proposal) -> None:
        """Record a finished proposal (idempotent by index)."""
        with self._lock:
            if proposal.index in self._proposals:
                return
            self._write(
                "INSERT OR IGNORE INTO proposals VALUES (?, ?, ?, ?, ?, ?)",
                (
                    proposal.index,
                    proposal.kind,
                    proposal.decision,
                    proposal.reason,
                    proposal.child_id,
                    dumps(proposal.to_dict(), what="proposal"),
                ),
            )
            self._proposals.add(proposal.index)

    def put_step_result(self, job: int, step: int, payload: Mapping[str, Any]) -> None:
        """Record a proposer reply for replay (idempotent by (job, step))."""
        with self._lock:
            if (job, step) in self._steps:
                return
            self._write(
                "INSERT OR IGNORE INTO step_results VALUES (?, ?, ?)",
                (job, step, dumps(dict(payload), what="proposer reply")),
            )
            self._steps.add((job, step))

    def step_result(self, job: int, step: int) -> Mapping[str, Any] | None:
        if (job, step) not in self._steps:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT payload FROM step_results WHERE job = ? AND step = ?", (job, step)
            ).fetchone()
        return None if row is None else loads(row[0])

    def put_delivery(self, seq: int, job: int, step: int) -> None:
        """Append delivery `seq`; it must be the next one.

        Raises:
            StoreError: `seq` is not the next delivery number.
        """
        with self._lock:
            if seq != self._n_deliveries:
                raise StoreError(
                    f"delivery {seq} out of order (the store has {self._n_deliveries})"
                )
            self._write("INSERT INTO deliveries VALUES (?, ?, ?)", (seq, job, step))
            self._n_deliveries += 1

    def deliveries(self) -> list[tuple[int, int]]:
        with self._lock:
            rows = self._conn.execute("SELECT job, step FROM deliveries ORDER BY seq")
            return [(j, s) for j, s in rows]

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the log."""
        with self._lock:
            self._write(
                "INSERT INTO events (time, kind, data) VALUES (?, ?, ?)",
                (time.time(), kind, dumps(dict(data), what="event")),
            )

    # -- run metadata and readers (not part of RunStore) ---------------------

    def meta(self) -> dict[str, Any]:
        """Every metadata entry (JSON values)."""
        with self._lock:
            return {k: loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    def put_meta(self, items: Mapping[str, Any]) -> None:
        """Set metadata entries in one transaction."""
        with self._lock:
            self._write("BEGIN IMMEDIATE")
            try:
                for key, value in items.items():
                    self._write(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, dumps(value, what=key))
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._write("COMMIT")

    def put_examples(self, split: str, examples: Sequence[Example]) -> None:
        """Store a split's examples (replacing any stored before) in one transaction."""
        with self._lock:
            self._write("BEGIN IMMEDIATE")
            try:
                self._write("DELETE FROM examples WHERE split = ?", (split,))
                self._conn.executemany(
                    "INSERT INTO examples VALUES (?, ?, ?, ?)",
                    [
                        (split, i, ex.id, dumps(ex.data, what="example"))
                        for i, ex in enumerate(examples)
                    ],
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._write("COMMIT")

    def examples(self, split: str) -> list[Example]:
        """A split's stored examples, in order (data as stored JSON)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, data FROM examples WHERE split = ? ORDER BY position", (split,)
            ).fetchall()
        return [Example(id=i, data=loads(d)) for i, d in rows]

    def candidates(self) -> list[tuple[int, Candidate, tuple[int, ...], dict[str, Any]]]:
        """(index, candidate, parents, info) of every candidate, by index."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT idx, components, parents, info FROM candidates ORDER BY idx"
            ).fetchall()
        return [
            (i, Candidate(components=loads(c)), tuple(loads(p)), loads(info))
            for i, c, p, info in rows
        ]

    def proposals(self) -> list[Proposal]:
        """Every finished proposal, by index."""
        with self._lock:
            rows = self._conn.execute("SELECT data FROM proposals ORDER BY idx").fetchall()
        return [Proposal.from_dict(loads(d)) for (d,) in rows]

    def rollouts(self, *, paid: bool | None = None) -> Iterator[tuple[bool, Rollout]]:
        """(paid, rollout) of stored rollouts in write order; `paid` filters."""
        where = "" if paid is None else f" WHERE paid = {int(paid)}"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT paid, {ROLLOUT_COLUMNS} FROM rollouts{where} ORDER BY seq"
            ).fetchall()
        for row in rows:
            yield bool(row[0]), rollout_from_row(row[1:])

    def rollout(self, key: RolloutKey) -> Rollout | None:
        """The stored rollout for `key`, paid or a cache hit."""
        seq = self._own.get(key, self._borrowed.get(key))
        return None if seq is None else self._read_rollout(seq)

    def events(self, *, last: int | None = None) -> list[tuple[float, str, dict[str, Any]]]:
        """(time, kind, data) of logged events, oldest first; `last` keeps the newest."""
        sql = "SELECT time, kind, data FROM events ORDER BY seq DESC"
        with self._lock:
            rows = self._conn.execute(sql + (f" LIMIT {int(last)}" if last else "")).fetchall()
        return [(t, k, loads(d)) for t, k, d in reversed(rows)]

    @property
    def paid_count(self) -> int:
        """Rollouts this run paid for (metric calls used)."""
        return len(self._own)

    @property
    def hit_count(self) -> int:
        """Distinct cache hits this run used."""
        return len(self._borrowed)

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the file and release the run lock (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            if self.cache is not None and self._owns_cache:
                self.cache.close()
            if self._run_lock is not None:
                self._run_lock.release()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
