"""`GroupCommit`: how a `SQLiteStore` call gets its records written (group commit).

Group commit: calls that arrive while another thread is writing (rollouts finishing
together on several workers, a delivery logged meanwhile) wait for it and are then
written together as one log record by the first of them; each still returns only after
its own record is written. If a group fails, its calls are retried one by one, so only
the failing one raises. A lone call is written at once (no waiting for company).

The durability contract is in `gepakit.store.sqlite`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from gepakit.errors import StoreError
from gepakit.store._codec import row_checksum
from gepakit.store._log import Op
from gepakit.store._moves import LogMoves
from gepakit.store._schema import CHECKED_COLUMNS


class Batch:
    """The records of a group being written, and how to undo their in-memory effects."""

    __slots__ = ("ops", "undo")

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        for undo in reversed(self.undo):
            undo()
        self.ops, self.undo = [], []


class Write:
    """One `RunStore` call waiting for its write (see `GroupCommit._commit`).

    `apply` checks the call, updates the in-memory index (registering how to undo it)
    and adds the call's records to the batch; it raises before changing anything.
    """

    __slots__ = ("apply", "done", "error")

    def __init__(self, apply: Callable[[Batch], None]) -> None:
        self.apply = apply
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(LogMoves):
    """The writes of `SQLiteStore`: group commit into the record log, and statements
    straight into run.db.

    Holds no state of its own: `SQLiteStore.__init__` sets the attributes below.
    """

    _queue_lock: threading.Lock
    _queue: list[Write]
    _closed: bool
    commits: int
    records: int

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

    def _commit(self, apply: Callable[[Batch], None]) -> None:
        """Write the records of one `RunStore` call (`apply`) to the log.

        Calls made while another thread is writing queue up; the first of them to get
        the connection writes the whole queue as one log record (group commit). Each
        call returns only once the log record holding its records is written.

        Raises:
            StoreError: this call's records could not be written.
        """
        if self.readonly:
            raise StoreError(f"the run store {self.path} was opened read-only")
        write = Write(apply)
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

    def _commit_group(self, group: list[Write]) -> None:
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

    def _transaction(self, group: list[Write]) -> None:
        batch = Batch()
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

        def apply(batch: Batch) -> None:
            if index is not None:
                if key in index:
                    return
                seen = index
                seen.add(key)
                batch.undo.append(lambda: seen.discard(key))
            batch.ops.append((table, params, None))

        self._commit(apply)
