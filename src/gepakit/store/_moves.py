"""`LogMoves`: the record log's writes, syncs and moves into run.db (a writer's side).

A `RunStore` call's records are appended to the log (`_append`); after each group of
calls, `_appended` syncs the log or moves it into run.db when due, by the tunables
below; `_move` applies the log's records to run.db in one transaction and then empties
the log. At open, `_replay` moves what a previous session left in the log. The
durability contract these give is in `gepakit.store.sqlite`.

The tunables are read here at each use: a test or benchmark that changes them sets
them on this module (`gepakit.store.sqlite` re-exports them for reading).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time

from gepakit.errors import StoreError
from gepakit.store import _log
from gepakit.store._files import LOG_NAME, OPEN_TIMEOUT_SECONDS
from gepakit.store._log import Op, Pending, RecordLog
from gepakit.store._read import StoreReads
from gepakit.store._schema import CHECKED_COLUMNS

log = logging.getLogger("gepakit")

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

_VERBS = {
    "candidates": "INSERT OR IGNORE",
    "proposals": "INSERT OR IGNORE",
    "step_results": "INSERT OR IGNORE",
    "deliveries": "INSERT",
    "events": "INSERT",
    "meta": "INSERT OR REPLACE",
}


class LogMoves(StoreReads):
    """The record log of `SQLiteStore` and its moves into run.db (a writer's side).

    Holds no state of its own: `SQLiteStore.__init__` sets the attributes below.
    """

    _log: RecordLog | None
    _lsn: int  # the last lsn written (writer)
    _unsynced: int
    _synced_at: float
    _moved_at: float
    _move_after: float
    moves: int
    log_bytes: int

    def _start_clocks(self) -> None:
        """Nothing unsynced, nothing due yet: at open, and after a move (which syncs run.db)."""
        self._unsynced, self._synced_at = 0, time.monotonic()
        self._moved_at = self._synced_at

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
        self._start_clocks()  # a move syncs run.db
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
