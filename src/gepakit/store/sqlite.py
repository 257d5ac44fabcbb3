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

Group commit: calls that arrive while another thread is writing (rollouts finishing
together on several workers, a delivery logged meanwhile) wait for it and are then
written together as one log record by the first of them; each still returns only after
its own record is written. If a group fails, its calls are retried one by one, so only
the failing one raises. A lone call is written at once (no waiting for company).

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
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gepakit.engine.protocols import RolloutKey
from gepakit.errors import StoreError
from gepakit.store import _log
from gepakit.store._codec import (
    decode_text,
    dumps,
    encode_text,
    loads,
    rollout_from_row,
    rollout_row,
    row_checksum,
)
from gepakit.store._log import Op, Pending, RecordLog
from gepakit.store._schema import (
    CHECKED_COLUMNS,
    READABLE_RUN_VERSIONS,
    RUN_MIGRATIONS,
    RUN_PAGE_SIZE,
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
LOG_NAME = DB_NAME + "-log"
SYNC_EVERY = 8
"""Records after which the log is synced to the disk (rate-limited, see below)."""
SYNC_MIN_SECONDS = 0.25
"""Syncs are at least this far apart: a sync flushes the disk (~1-10 ms), so very fast
writers pay at most a few percent; an OS crash loses at most this much of their work."""
SYNC_MAX_SECONDS = 30.0
"""A slow writer's records are synced after at most this long. This and `SYNC_EVERY`
bound what an OS crash or power loss can cost (the records since the last sync); at
2 s, a run of 1-second rollouts flushed the disk every other rollout (store_bench.py)."""
MOVE_EVERY = 256
"""Records after which the log is moved into run.db (rate-limited, see below). A move
writes whole pages plus a few it changes (about 4 KB, measured with store_bench.py): at
256 records that is ~16 B per record; at 32 records, ~130 B (a label-sized rollout
keeps ~175 B)."""
MOVE_MIN_SECONDS = 1.0
"""Moves are at least this far apart (unless the log holds `MOVE_BYTES`): a move syncs
the disk a few times (~5-15 ms), which a fast writer would otherwise pay every few ms."""
MOVE_BYTES = 1 << 20
"""Log bytes after which the log is moved (large records: bounds the log and memory)."""
MOVE_MAX_SECONDS = 300.0
"""A slow writer's log is moved after at most this long (bounds what run.db copied
without its log lacks)."""
MOVE_WAIT_SECONDS = 0.1
"""How long a scheduled move waits for readers (report, watch) to finish a read; then
it is put off, so that reading a run never holds it up for longer."""
MOVE_RETRY_SECONDS = 5.0
"""After a move found run.db busy with a reader, the next is tried this much later."""
OPEN_TIMEOUT_SECONDS = 10.0
"""How long opening, closing and other waits for run.db's lock may take."""
_SQLITE_MAGIC = b"SQLite format 3\x00"

T = TypeVar("T")


class _Batch:
    """The records of a group being written, and how to undo their in-memory effects."""

    __slots__ = ("ops", "undo")

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        for undo in reversed(self.undo):
            undo()
        self.ops, self.undo = [], []


class _Write:
    """One `RunStore` call waiting for its write (see `SQLiteStore._commit`).

    `apply` checks the call, updates the in-memory index (registering how to undo it)
    and adds the call's records to the batch; it raises before changing anything.
    """

    __slots__ = ("apply", "done", "error")

    def __init__(self, apply: Callable[[_Batch], None]) -> None:
        self.apply = apply
        self.done = False
        self.error: BaseException | None = None


_VERBS = {
    "candidates": "INSERT OR IGNORE",
    "proposals": "INSERT OR IGNORE",
    "step_results": "INSERT OR IGNORE",
    "deliveries": "INSERT",
    "events": "INSERT",
    "meta": "INSERT OR REPLACE",
}


class SQLiteStore:
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
        self._queue: list[_Write] = []
        self.commits = 0
        """Log records (groups of calls) written since the store opened."""
        self.records = 0
        """Calls those log records hold."""
        self.moves = 0
        """Moves of the log into run.db since the store opened."""
        self.log_bytes = 0
        """Bytes appended to the log since the store opened."""
        self._run_lock: RunLock | None = None
        self._own: dict[RolloutKey, int] = {}
        self._borrowed: dict[RolloutKey, int] = {}
        self._candidates: set[int] = set()
        self._proposals: set[int] = set()
        self._steps: set[tuple[int, int]] = set()
        self._n_deliveries = 0
        self._closed = False
        self._checked = True  # records carry checksums (False: a version-1 file, read-only)
        self._version = RUN_SCHEMA_VERSION
        self._log_path = self.run_dir / LOG_NAME
        self._log: RecordLog | None = None
        self._pending = Pending()
        self._base = 0  # the lsn run.db held when `_pending` was read (readers)
        self._lsn = 0  # the last lsn written (writer)
        self._next_seq = 1
        self._unsynced = 0
        self._synced_at = self._moved_at = time.monotonic()
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
                self._check_header()
            else:
                self._create_file()
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=OPEN_TIMEOUT_SECONDS,
            )
            self._check_integrity(conn)
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
            raise self._open_error(exc) from exc
        except BaseException:
            self._run_lock.release()
            raise
        return conn

    def _connect_reader(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no gepakit run in {self.run_dir} (no {DB_NAME})")
        self._check_header()
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=OPEN_TIMEOUT_SECONDS,
            )
            self._check_integrity(conn)
            found = check_readonly_schema(conn, "run", READABLE_RUN_VERSIONS, str(self.path))
            self._checked = found >= 2
            self._version = found
            conn.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        return conn

    def _check_header(self) -> None:
        """Refuse a run.db that exists but is not SQLite (empty, truncated, garbage)."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
            size = self.path.stat().st_size
        except OSError as exc:
            raise StoreError(f"cannot read the run store {self.path}: {exc}") from exc
        if head != _SQLITE_MAGIC:
            what = "is empty" if size == 0 else f"is not a SQLite file ({size} bytes)"
            raise StoreError(
                f"the run store {self.path} exists but {what}; nothing was read or written. "
                "If it held a run, restore it from a backup; to start a new run, delete it "
                "or choose another run_dir"
            )

    def _create_file(self) -> None:
        """Create run.db with its tables under another name, then rename it into place."""
        tmp = self.path.with_name(DB_NAME + ".new")
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA page_size = {RUN_PAGE_SIZE}")
            ensure_schema(conn, "run", RUN_SCHEMA_VERSION, RUN_TABLES, str(self.path))
        finally:
            conn.close()
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):  # make the rename durable where the OS allows
            fd = os.open(self.run_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

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
        self._own, self._borrowed = {}, {}
        with self._reading() as fresh:
            rows = self._conn.execute(
                "SELECT seq, candidate_id, example_id, split, paid FROM rollouts"
            ).fetchall()
            candidates = {r[0] for r in self._conn.execute("SELECT idx FROM candidates")}
            proposals = {r[0] for r in self._conn.execute("SELECT idx FROM proposals")}
            steps = {(j, s) for j, s in self._conn.execute("SELECT job, step FROM step_results")}
            n_deliveries = self._conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
            pending = self._pending if fresh else Pending()
        rows = [r for r in rows if r[0] not in pending.dropped]
        rows += [(p[0], p[4], p[5], p[6], p[1]) for p in pending.rows("rollouts")]
        for seq, cid, eid, split, paid in rows:
            key = (str(decode_text(cid)), str(decode_text(eid)), split)
            (self._own if paid else self._borrowed)[key] = seq
            self._next_seq = max(self._next_seq, seq + 1)
        self._candidates = candidates | {p[0] for p in pending.rows("candidates")}
        self._proposals = proposals | {p[0] for p in pending.rows("proposals")}
        self._steps = steps | {(p[0], p[1]) for p in pending.rows("step_results")}
        self._n_deliveries = n_deliveries + len(pending.rows("deliveries"))

    # -- the record log ------------------------------------------------------

    def _moved_lsn(self) -> int:
        """The lsn of the last log record run.db holds (0: none, or an older schema)."""
        if self._version < 4:
            return 0
        return int(self._conn.execute("SELECT moved FROM record_log").fetchone()[0])

    def _replay(self) -> None:
        """Writer, at open: move what the log holds into run.db, then start the log."""
        moved = self._moved_lsn()
        found = _log.read(self._log_path, moved)
        if found.torn:
            log.warning(
                "run store %s: discarded the last %d bytes of %s (a record being written "
                "when the process stopped; its call never returned)",
                self.path,
                found.torn,
                LOG_NAME,
            )
        self._base = self._lsn = found.records[-1][0] if found.records else moved
        for _, ops in found.records:
            self._pending.add(ops, 0)
        self._move(required=True)
        self._base = self._lsn
        try:
            self._log = RecordLog(self._log_path)
        except OSError as exc:
            raise StoreError(
                f"cannot write to the run store {self.path}: cannot open {LOG_NAME}: {exc}; "
                "the run directory must be writable (disk full?)"
            ) from exc

    def _read_log(self) -> None:
        """Reader, at open: the log's records that run.db does not hold yet."""
        if self._version < 4:
            return
        moved = self._moved_lsn()
        for _ in range(20):  # a writer moving the log meanwhile: read it again
            found = _log.read(self._log_path, moved)
            again = self._moved_lsn()
            if again == moved:
                break
            moved = again
        else:
            raise StoreError(f"the run store {self.path} changed too fast to read; try again")
        self._base = moved
        for _, ops in found.records:
            self._pending.add(ops, 0)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[bool]:
        """Hold the connection for reads; yield whether `_pending` is still outside run.db.

        A reader's pending records are those of the log when it opened; once the writer
        moves the log, run.db holds them (a move takes every record), so they are then
        read from run.db alone. The check and the reads share one read transaction.
        """
        with self._lock:
            if not self.readonly or not self._pending.ops:
                yield True
                return
            self._conn.execute("BEGIN")
            try:
                yield self._moved_lsn() == self._base
            finally:
                self._conn.execute("COMMIT")

    def _append(self, ops: list[Op]) -> None:
        """Write `ops` to the log as one record (one write()).

        Raises:
            StoreError: the log could not be written (nothing of `ops` was kept).
        """
        assert self._log is not None  # a writer's log is open until close
        if self._log.detached():  # deleted or replaced: keep what it held, start anew
            log.warning("run store %s: %s was deleted; starting a new one", self.path, LOG_NAME)
            self._move(required=True)
            self._log.close(delete=False)
            self._log = None
            try:
                self._log = RecordLog(self._log_path)
            except OSError as exc:
                raise _log.write_error(self.path, exc) from exc
        try:
            data = _log.encode(self._lsn + 1, ops)
        except (ValueError, TypeError, UnicodeError, OverflowError) as exc:
            raise StoreError(
                f"cannot write to the run store {self.path}: {type(exc).__name__}: {exc}"
            ) from exc
        self._lsn += 1  # before the write: an interrupted call never reuses an lsn
        try:
            self._log.append(data)
        except OSError as exc:
            raise _log.write_error(self.path, exc) from exc
        self._pending.add(ops, len(data))
        self.log_bytes += len(data)

    def _appended(self, records: int) -> None:
        """After a group: move the log into run.db, or sync it, when due (module docstring)."""
        self._unsynced += records
        now = time.monotonic()
        pending = self._pending
        since = now - self._moved_at
        if now >= self._move_after and (
            (len(pending.ops) >= MOVE_EVERY and since >= MOVE_MIN_SECONDS)
            or pending.bytes >= MOVE_BYTES
            or (pending.ops and since >= MOVE_MAX_SECONDS)
        ):
            self._move(required=False)
            if not pending.ops:
                return
        elapsed = now - self._synced_at
        due = self._unsynced >= SYNC_EVERY or elapsed >= SYNC_MAX_SECONDS
        if not due or elapsed < SYNC_MIN_SECONDS or self._log is None:
            return
        self._unsynced, self._synced_at = 0, now
        try:
            self._log.sync()
        except OSError as exc:
            raise _log.write_error(self.path, exc) from exc

    def _move(self, *, required: bool) -> None:
        """Move the pending records into run.db in one transaction, then empty the log.

        A move that finds run.db busy with a reader for `MOVE_WAIT_SECONDS` is put off
        (`MOVE_RETRY_SECONDS`) unless `required`: the records are safe in the log.

        Raises:
            StoreError: run.db cannot take them (disk full ...); they stay in the log.
        """
        if not self._pending.ops:
            return
        wait = OPEN_TIMEOUT_SECONDS if required else MOVE_WAIT_SECONDS
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            self._conn.execute("BEGIN IMMEDIATE")
            for table, params, replaced in self._pending.ops:
                if replaced is not None:
                    self._conn.execute("DELETE FROM rollouts WHERE seq = ?", (replaced,))
                self._conn.execute(self._op_sql(table), params)
            self._conn.execute("UPDATE record_log SET moved = ?", (self._lsn,))
            self._conn.execute("COMMIT")
        except (sqlite3.Error, OverflowError) as exc:
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            text = str(exc)
            if not required and ("locked" in text or "busy" in text):
                self._move_after = time.monotonic() + MOVE_RETRY_SECONDS
                return
            raise StoreError(
                f"cannot write to the run store {self.path}: moving {LOG_NAME} into it "
                f"failed: {type(exc).__name__}: {text} (disk full or read-only? the run "
                "stops here; its records are kept in the log: fix it and resume with the "
                "same run_dir)"
            ) from exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA busy_timeout = {int(OPEN_TIMEOUT_SECONDS * 1000)}")
        self.moves += 1
        self._pending, self._base = Pending(), self._lsn
        self._unsynced, self._synced_at = 0, time.monotonic()  # a move syncs run.db
        self._moved_at = self._synced_at
        if self._log is not None:
            with contextlib.suppress(OSError):  # a log not emptied is skipped up to moved
                self._log.reset()

    @staticmethod
    def _op_sql(table: str) -> str:
        columns = CHECKED_COLUMNS[table]
        if table == "rollouts":
            marks = ", ".join("?" * (len(columns) + 2))
            return f"INSERT INTO rollouts (seq, {', '.join(columns)}, crc) VALUES ({marks})"
        marks = ", ".join("?" * (len(columns) + 1))
        return f"{_VERBS[table]} INTO {table} ({', '.join(columns)}, crc) VALUES ({marks})"

    # -- writing helpers -----------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One write statement; errors become a `StoreError` that says what to do."""
        if self.readonly:
            raise StoreError(f"the run store {self.path} was opened read-only")
        try:
            return self._conn.execute(sql, params)
        except (sqlite3.Error, UnicodeError, OverflowError) as exc:
            raise StoreError(
                f"cannot write to the run store {self.path}: {type(exc).__name__}: {exc} "
                "(disk full or read-only? the run stops here; fix it and resume with the "
                "same run_dir)"
            ) from exc

    def _commit(self, apply: Callable[[_Batch], None]) -> None:
        """Write the records of one `RunStore` call (`apply`) to the log.

        Calls made while another thread is writing queue up; the first of them to get
        the connection writes the whole queue as one log record (group commit). Each
        call returns only once the log record holding its records is written.

        Raises:
            StoreError: this call's records could not be written.
        """
        if self.readonly:
            raise StoreError(f"the run store {self.path} was opened read-only")
        write = _Write(apply)
        with self._queue_lock:
            self._queue.append(write)
        with self._lock:
            if not write.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                if group:  # empty: a writing thread took ours and was interrupted
                    self._commit_group(group)
        if write.error is not None:
            raise write.error
        if not write.done:
            raise StoreError(
                f"a record was not written to the run store {self.path}: the thread "
                "writing it was interrupted; the run stops here, and a resume redoes it"
            )

    def _commit_group(self, group: list[_Write]) -> None:
        """Write `group` as one log record; if that fails, each call on its own.

        An interrupt (KeyboardInterrupt) propagates; the calls it left unwritten are
        reported by their own threads (see `_commit`).
        """
        if self._closed:
            error = StoreError(f"the run store {self.path} is closed")
            for write in group:
                write.error, write.done = error, True
            return
        try:
            self._transaction(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].error, group[0].done = exc, True
            else:  # one bad call must not fail the others: retry them one by one
                for write in group:
                    try:
                        self._transaction([write])
                    except Exception as one:
                        write.error, write.done = one, True
        self._appended(len(group))  # after the calls are done: a failed move raises
        # here, to the writing call (the records are in the log)

    def _transaction(self, group: list[_Write]) -> None:
        batch = _Batch()
        try:
            for write in group:
                write.apply(batch)
            if batch.ops:
                self._append(batch.ops)
        except BaseException:
            batch.rollback()  # the in-memory index back to what is written
            raise
        self.commits += 1
        self.records += len(group)
        for write in group:
            write.done = True

    def _insert(self, verb: str, table: str, values: Sequence[Any]) -> sqlite3.Cursor:
        """``verb INTO table`` of one record, with its checksum, straight into run.db."""
        return self._execute(self._insert_sql(table, verb), (*values, row_checksum(values)))

    @staticmethod
    def _insert_sql(table: str, verb: str = "INSERT") -> str:
        columns = CHECKED_COLUMNS[table]
        marks = ", ".join("?" * (len(columns) + 1))
        return f"{verb} INTO {table} ({', '.join(columns)}, crc) VALUES ({marks})"

    def _commit_record(
        self, table: str, values: Sequence[Any], index: set[Any] | None = None, key: Any = None
    ) -> None:
        """Write one record (see `_commit`); with `index`, only if `key` is not in it
        yet (then it is added: replayed writes keep the first record)."""
        params = (*values, row_checksum(values))

        def apply(batch: _Batch) -> None:
            if index is not None:
                if key in index:
                    return
                seen = index
                seen.add(key)
                batch.undo.append(lambda: seen.discard(key))
            batch.ops.append((table, params, None))

        self._commit(apply)

    # -- reading helpers -----------------------------------------------------

    def _select(
        self,
        table: str,
        tail: str = "",
        params: Sequence[Any] = (),
        *,
        verify: bool = False,
        lead: str = "",
    ) -> list[tuple[Any, ...]]:
        """The records of `table` in run.db matching `tail` (WHERE/ORDER clauses); with
        `lead` (a column), rows are (lead value, record).

        Checksums are verified by readers, and by a writer once at open (`_verify_all`):
        after that, a writer reads records it checked or wrote itself.
        """
        columns = CHECKED_COLUMNS[table]
        crc = "crc" if self._checked and (verify or self.readonly) else "NULL"
        first = f"{lead}, " if lead else ""
        sql = f"SELECT {first}{', '.join(columns)}, {crc} FROM {table} {tail}"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values, stored = row[1 if lead else 0 : -1], row[-1]
            if stored is not None and stored != row_checksum(values):
                raise self._damaged(table, values, "fails its checksum")
            out.append((row[0], values) if lead else values)
        return out

    def _pending_rows(self, table: str, fresh: bool) -> list[tuple[Any, ...]]:
        """The records of `table` still in the log (none once moved: see `_reading`)."""
        if not fresh:
            return []
        out: list[tuple[Any, ...]] = []
        for params in self._pending.rows(table):
            values = params[1:-1] if table == "rollouts" else params[:-1]
            if self.readonly and params[-1] != row_checksum(values):
                raise self._damaged(table, values, f"fails its checksum (in {LOG_NAME})")
            out.append(values)
        return out

    def _decode(self, table: str, values: tuple[Any, ...], fn: Callable[[], T]) -> T:
        """`fn()`, with a clear `StoreError` naming the record if it cannot be decoded."""
        try:
            return fn()
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise self._damaged(table, values, f"cannot be decoded ({exc})") from exc

    def _damaged(self, table: str, values: Sequence[Any], what: str) -> StoreError:
        columns = CHECKED_COLUMNS[table]
        shown = [c for c in ("candidate_id", "example_id", "split") if c in columns]
        shown = shown or list(columns[: 2 if table in ("examples", "step_results") else 1])
        key = ", ".join(f"{c}={values[columns.index(c)]!r}"[:80] for c in shown)
        return StoreError(
            f"the run store {self.path} is damaged: the {table} record ({key}) {what}. "
            "Restore run.db from a backup, or start a new run_dir; nothing was changed"
        )

    def _verify_all(self) -> None:
        """Check every record's checksum (a writer does it once, before any LM call)."""
        for table in CHECKED_COLUMNS:
            self._select(table, verify=True)

    def _read_rollout(self, seq: int) -> Rollout:
        params = self._pending.rollouts.get(seq)
        if params is not None:
            values = self._pending_rows_of(params)
        else:
            rows = self._select("rollouts", "WHERE seq = ?", (seq,))
            if not rows:
                raise StoreError(f"the run store {self.path} lost rollout record {seq}")
            values = rows[0]
        return self._decode("rollouts", values, lambda: rollout_from_row(values[3:]))

    def _pending_rows_of(self, params: tuple[Any, ...]) -> tuple[Any, ...]:
        values = params[1:-1]
        if self.readonly and params[-1] != row_checksum(values):
            raise self._damaged("rollouts", values, f"fails its checksum (in {LOG_NAME})")
        return values

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

    def _rollout_writer(self, rollout: Rollout, *, paid: bool) -> Callable[[_Batch], None]:
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

        def apply(batch: _Batch) -> None:
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

        def apply(batch: _Batch) -> None:
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

    def step_result(self, job: int, step: int) -> Mapping[str, Any] | None:
        if (job, step) not in self._steps:
            return None
        with self._reading() as fresh:
            rows = [v for v in self._pending_rows("step_results", fresh) if v[:2] == (job, step)]
            rows = rows or self._select("step_results", "WHERE job = ? AND step = ?", (job, step))
        if not rows:
            return None
        values = rows[0]
        return self._decode("step_results", values, lambda: dict(loads(values[2])))

    def put_delivery(self, seq: int, job: int, step: int) -> None:
        """Append delivery `seq`; it must be the next one.

        Raises:
            StoreError: `seq` is not the next delivery number.
        """
        params = (int(seq), int(job), int(step))
        params = (*params, row_checksum(params))

        def apply(batch: _Batch) -> None:
            if seq != self._n_deliveries:
                raise StoreError(
                    f"delivery {seq} out of order (the store has {self._n_deliveries})"
                )
            self._n_deliveries += 1
            batch.undo.append(lambda: setattr(self, "_n_deliveries", self._n_deliveries - 1))
            batch.ops.append(("deliveries", params, None))

        self._commit(apply)

    def deliveries(self) -> list[tuple[int, int]]:
        with self._reading() as fresh:
            rows = self._select("deliveries", "ORDER BY seq")
            rows += self._pending_rows("deliveries", fresh)
        return [(int(j), int(s)) for _, j, s in rows]

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the log."""
        values = (time.time(), encode_text(kind), dumps(dict(data), what="event"))
        self._commit_record("events", values)

    # -- run metadata and readers (not part of RunStore) ---------------------

    def meta(self) -> dict[str, Any]:
        """Every metadata entry (JSON values)."""
        out: dict[str, Any] = {}
        with self._reading() as fresh:
            rows = self._select("meta") + self._pending_rows("meta", fresh)
        for values in rows:  # the log's newer values last
            out[str(decode_text(values[0]))] = self._decode(
                "meta", values, lambda v=values: loads(v[1])
            )
        return out

    def put_meta(self, items: Mapping[str, Any]) -> None:
        """Set metadata entries together (one log record, see `_commit`)."""
        ops: list[Op] = []
        for key, value in items.items():
            values = (encode_text(str(key)), dumps(value, what=str(key)))
            ops.append(("meta", (*values, row_checksum(values)), None))

        def apply(batch: _Batch) -> None:
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

    def examples(self, split: str) -> list[Example]:
        """A split's stored examples, in order (data as stored JSON)."""
        rows = self._select("examples", "WHERE split = ? ORDER BY position", (split,))
        return [
            self._decode(
                "examples", v, lambda v=v: Example(id=str(decode_text(v[2])), data=loads(v[3]))
            )
            for v in rows
        ]

    def candidates(self) -> list[tuple[int, Candidate, tuple[int, ...], dict[str, Any]]]:
        """(index, candidate, parents, info) of every candidate, by index."""
        out: list[tuple[int, Candidate, tuple[int, ...], dict[str, Any]]] = []
        for v in self._merged("candidates", "idx"):

            def decode(v: tuple[Any, ...] = v) -> tuple[Any, ...]:
                cand = Candidate(components=dict(loads(v[2])))
                if cand.id != decode_text(v[1]):
                    raise ValueError(f"its texts hash to {cand.id}, not {v[1]}")
                return (int(v[0]), cand, tuple(int(p) for p in loads(v[3])), dict(loads(v[4])))

            out.append(self._decode("candidates", v, decode))  # type: ignore[arg-type]
        return out

    def proposals(self) -> list[Proposal]:
        """Every finished proposal, by index."""
        return [
            self._decode("proposals", v, lambda v=v: Proposal.from_dict(loads(v[5])))
            for v in self._merged("proposals", "idx")
        ]

    def _merged(self, table: str, key: str) -> list[tuple[Any, ...]]:
        """The records of `table` in run.db and in the log, by `key` (the first column;
        a key written twice keeps its first record, as INSERT OR IGNORE does)."""
        with self._reading() as fresh:
            rows = self._select(table, f"ORDER BY {key}")
            pending = self._pending_rows(table, fresh)
        if not pending:
            return rows
        seen = {r[0] for r in rows}
        for values in pending:
            if values[0] not in seen:
                seen.add(values[0])
                rows.append(values)
        return sorted(rows, key=lambda v: v[0])

    def rollouts(self, *, paid: bool | None = None) -> Iterator[tuple[bool, Rollout]]:
        """(paid, rollout) of stored rollouts in write order; `paid` filters."""
        where = "" if paid is None else f"WHERE paid = {int(paid)} "
        with self._reading() as fresh:
            rows = self._select("rollouts", where + "ORDER BY seq", lead="seq")
            pending = self._pending_rows("rollouts", fresh)
            dropped = set(self._pending.dropped) if fresh else set[int]()
        values = [v for seq, v in rows if seq not in dropped]
        values += [v for v in pending if paid is None or bool(v[0]) == paid]
        for v in values:
            yield bool(v[0]), self._decode("rollouts", v, lambda v=v: rollout_from_row(v[3:]))

    def rollout(self, key: RolloutKey) -> Rollout | None:
        """The stored rollout for `key`, paid or a cache hit."""
        seq = self._own.get(key, self._borrowed.get(key))
        return None if seq is None else self._read_rollout(seq)

    def events(self, *, last: int | None = None) -> list[tuple[float, str, dict[str, Any]]]:
        """(time, kind, data) of logged events, oldest first; `last` keeps the newest."""
        tail = "ORDER BY seq DESC" + (f" LIMIT {int(last)}" if last else "")
        with self._reading() as fresh:
            rows = self._select("events", tail)[::-1] + self._pending_rows("events", fresh)
        return [
            self._decode(
                "events", v, lambda v=v: (float(v[0]), str(decode_text(v[1])), dict(loads(v[2])))
            )
            for v in (rows[-int(last) :] if last else rows)
        ]

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
