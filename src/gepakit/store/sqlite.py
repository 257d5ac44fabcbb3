"""`SQLiteStore`: a run persisted in one SQLite file, ``run_dir/run.db``, and its record
log, ``run_dir/run.db-log``.

Every `RunStore` call returns only once its records are in the record log
(`gepakit.store._log`): appended as one log record, checksummed, with one ``write()``.
The log is moved into run.db in one transaction once it holds `MOVE_EVERY` records (at
most every `MOVE_MIN_SECONDS`) or `MOVE_BYTES`, after `MOVE_MAX_SECONDS` otherwise, and at
close (which deletes the log). run.db uses a rollback journal (``journal_mode=TRUNCATE``,
``synchronous=FULL``), so a move writes its new pages once and the few pages it changes
twice (journal and file), and is on the disk before the log is emptied; run.db notes the
last log record it holds, so a kill between the two never applies a record twice.
Readers (``readonly=True``) read the log too: they see every record a call returned for.

Durability contract:

- kill -9 (the process dies at any moment): nothing a call returned for is lost. Its
  record was handed to the operating system, which writes it out even though the
  process is gone; the next open (a resume, or a reader) takes the log's records and
  discards a torn tail (the record being written when the process died, whose call
  never returned). Rollouts are *not* buffered in memory: a metric call that completed
  and was recorded is never paid again.
- OS crash or power loss: the log is synced to the disk every `SYNC_EVERY` records (at
  most every `SYNC_MIN_SECONDS`), after `SYNC_MAX_SECONDS` otherwise, and run.db at every
  move, so only the records since the last sync may be lost (at most `SYNC_EVERY`
  records, `SYNC_MIN_SECONDS` of fast work, or `SYNC_MAX_SECONDS` of slow work), which a
  resume then simply redoes (paying those metric calls again). Syncing at every call
  would spare redoing those few rollouts after a power cut, at a disk flush per rollout:
  not worth it. (Schema 3 gave the same bound with WAL checkpoints.)
- The log lost: deleted while the run is open, it is noticed at the next call (its
  records are moved at once and a new log started: nothing lost). Only run.db copied or
  restored without its log (while the run is open, or after a kill) lacks the records
  since the last move (at most `MOVE_EVERY` records, the last `MOVE_MIN_SECONDS` of a
  fast run up to `MOVE_BYTES`, or `MOVE_MAX_SECONDS` of a slow one).
- Disk full or read-only: the call whose record could not be written raises
  `StoreError` (the log is left as it was before it); every record written before stays
  in the log or run.db, and a resume once the disk has room moves and keeps them all.

Bytes: a record costs its log record (its values as JSON, 16 bytes of header) and its
share of the pages of a move, instead of a commit of its own that wrote a 512-byte page
or two through a write-ahead log and again at the checkpoint (schema 3: 6-8x the bytes
kept for a label-sized rollout). ``benchmarks/store_bench.py`` prints the bytes written
per rollout against the bytes kept, and where they go.

Group commit: calls that arrive while another thread is writing are written together
as one log record, each returning only after its own record is written
(`gepakit.store._commit`).

A new run.db is created complete and renamed into place, so a run.db that exists but is
empty or not SQLite is never taken for a new run: it is refused (and so is a run.db-log
that is not a record log).

Every record carries a checksum (schema version 2), checked when the store opens for
writing and whenever a record is read, so a damaged record that SQLite's own
``quick_check`` passes is reported by table and key instead of being used.

Reads that resume needs on every step are served from memory: the keys of the
rollouts this run paid for (and of cache hits it used) are loaded when the store
opens, so `own_rollout` misses are a dict lookup and hits one primary-key read (or
none, for a record still in the log).

`SQLiteStore` is built in layers, each a module: `_read` (reading run.db and the log:
all that a reader, ``readonly=True``, calls between open and close), `_moves` (the log's
writes, syncs and moves into run.db; the tunables named above live there), `_commit`
(group commit), and this module (opening, the `RunStore` writes, close); `_files` checks
and creates run.db, `_log` holds the record log's format and `_schema` the tables and
the upgrades of older files.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gepakit.engine.protocols import RolloutKey
from gepakit.errors import StoreError
from gepakit.store._codec import dumps, encode_text, rollout_row, row_checksum
from gepakit.store._commit import Batch, GroupCommit
from gepakit.store._files import (
    DB_NAME,
    LOG_NAME,
    OPEN_TIMEOUT_SECONDS,
    check_header,
    check_integrity,
    connect,
    create_file,
    open_error,
)
from gepakit.store._log import Op, Pending
from gepakit.store._moves import (
    MOVE_BYTES,
    MOVE_EVERY,
    MOVE_MAX_SECONDS,
    MOVE_MIN_SECONDS,
    MOVE_RETRY_SECONDS,
    MOVE_WAIT_SECONDS,
    SYNC_EVERY,
    SYNC_MAX_SECONDS,
    SYNC_MIN_SECONDS,
)
from gepakit.store._schema import (
    READABLE_RUN_VERSIONS,
    RUN_MIGRATIONS,
    RUN_SCHEMA_VERSION,
    RUN_TABLES,
    check_readonly_schema,
    ensure_schema,
)
from gepakit.store.cache import EvalCache
from gepakit.store.lock import RunLock
from gepakit.types import Candidate, Example, Proposal, Rollout

__all__ = [
    "DB_NAME",
    "LOG_NAME",
    "MOVE_BYTES",
    "MOVE_EVERY",
    "MOVE_MAX_SECONDS",
    "MOVE_MIN_SECONDS",
    "MOVE_RETRY_SECONDS",
    "MOVE_WAIT_SECONDS",
    "OPEN_TIMEOUT_SECONDS",
    "SYNC_EVERY",
    "SYNC_MAX_SECONDS",
    "SYNC_MIN_SECONDS",
    "SQLiteStore",
]

log = logging.getLogger("gepakit")


class SQLiteStore(GroupCommit):
    """A `RunStore` in ``run_dir/run.db``, optionally backed by a shared `EvalCache`.

    A writer holds ``run_dir/.lock`` until `close` (a second writer gets
    `RunInUseError`). ``readonly=True`` opens without the lock, for status and export
    while a run may be going on; writes then raise `StoreError`.
    Thread-safe: one connection guarded by a lock; writes that arrive together are
    written together (group commit), each call returning once its record is in the log.

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
        self._queue_lock = threading.Lock()
        self._queue = []
        self.commits = 0
        """Log records (groups of calls) written since the store opened."""
        self.records = 0
        """Calls those log records hold."""
        self.moves = 0
        """Moves of the log into run.db since the store opened."""
        self.log_bytes = 0
        """Bytes appended to the log since the store opened."""
        self._run_lock: RunLock | None = None
        self._own = {}
        self._borrowed = {}
        self._candidates = set()
        self._proposals = set()
        self._steps = set()
        self._n_deliveries = 0
        self._closed = False
        self._checked = True
        self._version = RUN_SCHEMA_VERSION
        self._log_path = self.run_dir / LOG_NAME
        self._log = None
        self._pending = Pending()
        self._base = 0
        self._lsn = 0
        self._next_seq = 1
        self._start_clocks()
        self._move_after = 0.0
        self._owns_cache = False
        self.cache: EvalCache | None = None
        if readonly:
            self._conn = self._connect_reader()
        else:
            self._conn = self._connect_writer()
        try:
            if not readonly:
                self._replay()
                self._verify_all()
                # Prove the file is writable now, before any LM call is made.
                self._insert("INSERT OR REPLACE", "meta", ("last_opened", dumps(time.time())))
            else:
                self._read_log()
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
            if self.path.exists():
                check_header(self.path)
            else:
                create_file(self.path)
            conn = connect(self.path)
            check_integrity(conn, self.path)
            # A rollback journal: a move writes its new pages once (a WAL would write
            # them twice, once more at the checkpoint). An older file leaves WAL mode
            # here; if a reader of an old gepakit holds it, it stays in WAL mode.
            conn.execute("PRAGMA journal_mode=TRUNCATE")
            conn.execute("PRAGMA synchronous=FULL")
            ensure_schema(
                conn, "run", RUN_SCHEMA_VERSION, RUN_TABLES, str(self.path), RUN_MIGRATIONS
            )
        except sqlite3.Error as exc:
            self._run_lock.release()
            raise open_error(self.path, exc) from exc
        except BaseException:
            self._run_lock.release()
            raise
        return conn

    def _connect_reader(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no gepakit run in {self.run_dir} (no {DB_NAME})")
        check_header(self.path)
        try:
            conn = connect(self.path)
            check_integrity(conn, self.path)
            found = check_readonly_schema(conn, "run", READABLE_RUN_VERSIONS, str(self.path))
            self._checked = found >= 2
            self._version = found
            conn.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise open_error(self.path, exc) from exc
        return conn

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
            self._put_rollout_row(rollout, paid=False)
        return rollout

    def _put_rollout_row(self, rollout: Rollout, *, paid: bool) -> None:
        """Commit `rollout` as the one row of its key (replacing an older row)."""
        self._commit(self._rollout_writer(rollout, paid=paid))

    def _rollout_writer(self, rollout: Rollout, *, paid: bool) -> Callable[[Batch], None]:
        """The records writing `rollout` as the one row of its key, for `_commit`."""
        key: RolloutKey = (rollout.candidate_id, rollout.example_id, rollout.split)
        try:
            row = rollout_row(rollout)
        except (UnicodeError, ValueError, TypeError) as exc:
            raise StoreError(
                f"cannot encode the rollout of candidate {rollout.candidate_id} on example "
                f"{rollout.example_id!r} for {self.path}: {type(exc).__name__}: {exc}"
            ) from exc
        values = (int(paid), encode_text(self.evaluator_id), time.time(), *row)
        crc = row_checksum(values)

        def apply(batch: Batch) -> None:
            own, borrowed = self._own.pop(key, None), self._borrowed.pop(key, None)
            old = borrowed if borrowed is not None else own
            seq, self._next_seq = self._next_seq, self._next_seq + 1
            index = self._own if paid else self._borrowed
            index[key] = seq

            def undo() -> None:
                index.pop(key, None)
                if own is not None:
                    self._own[key] = own
                if borrowed is not None:
                    self._borrowed[key] = borrowed

            batch.undo.append(undo)
            batch.ops.append(("rollouts", (seq, *values, crc), old))

        return apply

    def put_rollout(self, rollout: Rollout) -> None:
        """Record a paid rollout (committed before this returns, see group commit in the
        module docstring), then add it to the shared cache."""
        self._put_rollout_row(rollout, paid=True)
        if self.cache is not None:
            self.cache.put(self.evaluator_id, rollout)

    def put_rollouts(self, rollouts: Sequence[Rollout]) -> None:
        """Record paid rollouts that finished together (a batch evaluation) in one
        transaction, committed before this returns; then add them to the shared cache."""
        writers = [self._rollout_writer(r, paid=True) for r in rollouts]

        def apply(batch: Batch) -> None:
            for write in writers:
                write(batch)

        self._commit(apply)
        if self.cache is not None:
            for rollout in rollouts:
                self.cache.put(self.evaluator_id, rollout)

    def put_candidate(
        self, index: int, candidate: Candidate, parents: Sequence[int], info: Mapping[str, Any]
    ) -> None:
        """Record candidate `index` (idempotent: a replayed write keeps the first row)."""
        if index in self._candidates:
            return
        values = (
            int(index),
            encode_text(candidate.id),
            dumps(dict(candidate.components)),
            dumps(list(parents)),
            dumps(dict(info), what="candidate info"),
        )
        self._commit_record("candidates", values, self._candidates, index)

    def put_proposal(self, proposal: Proposal) -> None:
        """Record a finished proposal (idempotent by index)."""
        if proposal.index in self._proposals:
            return
        values = (
            int(proposal.index),
            encode_text(proposal.kind),
            encode_text(proposal.decision),
            encode_text(proposal.reason),
            encode_text(proposal.child_id),
            dumps(proposal.to_dict(), what="proposal"),
        )
        self._commit_record("proposals", values, self._proposals, proposal.index)

    def put_step_result(self, job: int, step: int, payload: Mapping[str, Any]) -> None:
        """Record a proposer reply for replay (idempotent by (job, step))."""
        if (job, step) in self._steps:
            return
        values = (int(job), int(step), dumps(dict(payload), what="proposer reply"))
        self._commit_record("step_results", values, self._steps, (job, step))

    def put_delivery(self, seq: int, job: int, step: int) -> None:
        """Append delivery `seq`; it must be the next one.

        Raises:
            StoreError: `seq` is not the next delivery number.
        """
        params = (int(seq), int(job), int(step))
        params = (*params, row_checksum(params))

        def apply(batch: Batch) -> None:
            if seq != self._n_deliveries:
                raise StoreError(
                    f"delivery {seq} out of order (the store has {self._n_deliveries})"
                )
            self._n_deliveries += 1
            batch.undo.append(lambda: setattr(self, "_n_deliveries", self._n_deliveries - 1))
            batch.ops.append(("deliveries", params, None))

        self._commit(apply)

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the log."""
        values = (time.time(), encode_text(kind), dumps(dict(data), what="event"))
        self._commit_record("events", values)

    def put_meta(self, items: Mapping[str, Any]) -> None:
        """Set metadata entries together (one log record, see `_commit`)."""
        ops: list[Op] = []
        for key, value in items.items():
            values = (encode_text(str(key)), dumps(value, what=str(key)))
            ops.append(("meta", (*values, row_checksum(values)), None))

        def apply(batch: Batch) -> None:
            batch.ops.extend(ops)

        self._commit(apply)

    def put_examples(self, split: str, examples: Sequence[Example]) -> None:
        """Store a split's examples (replacing any stored before) in one transaction."""
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                self._execute("DELETE FROM examples WHERE split = ?", (split,))
                for i, ex in enumerate(examples):
                    values = (split, i, encode_text(ex.id), dumps(ex.data, what="example"))
                    self._insert("INSERT", "examples", values)
                self._execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the file and release the run lock (idempotent)."""
        with self._lock:
            if self._closed:
                return
            conn = getattr(self, "_conn", None)
            if conn is not None and self._log is not None:  # everything into run.db
                moved = True
                try:
                    self._move(required=True)
                except StoreError as exc:
                    moved = False
                    log.warning("%s; the next open moves them", exc)
                self._log.close(delete=moved and not self._pending.ops)
                self._log = None
            self._closed = True
            if conn is not None:
                if not self.readonly:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a file left in WAL
                        # TRUNCATE mode keeps an empty run.db-journal; DELETE removes it,
                        # so a closed run leaves no file that looks like a run in progress.
                        conn.execute("PRAGMA journal_mode=DELETE")
                conn.close()
            if self.cache is not None and self._owns_cache:
                self.cache.close()
            if self._run_lock is not None:
                self._run_lock.release()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
