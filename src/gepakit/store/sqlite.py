"""`SQLiteStore`: a run persisted in one SQLite file, ``run_dir/run.db``.

Durability: every `RunStore` call returns only once its record is committed (WAL
journal, ``synchronous=NORMAL``). A committed write survives the process being killed
at any moment (SIGKILL included): WAL+NORMAL hands each commit to the operating system
before returning and syncs the disk at checkpoints, so only an OS crash or power loss
may drop the commits since the last checkpoint (at most `CHECKPOINT_EVERY` records or
`CHECKPOINT_MAX_SECONDS` of work), which resume then simply redoes (paying those metric
calls again). ``synchronous=FULL`` would sync the disk at every commit (measured: twice
the device writes, 3.5 KB more per rollout, and up to a millisecond) to spare redoing
those few rollouts after a power cut: not worth it. Rollouts are *not* buffered: a
metric call that completed and was recorded is never paid again.

Group commit: calls that arrive while another thread is committing (rollouts finishing
together on several workers, a delivery logged meanwhile) wait for it and are then
committed together in one transaction by the first of them, so they share the pages
they touch instead of each writing its own; each still returns only after its own
record is committed. If a group fails, its calls are retried one by one, so only the
failing one raises. A lone call commits at once (no waiting for company).

The main file holds what was paid, not only the write-ahead log: a PASSIVE checkpoint
runs after `CHECKPOINT_EVERY` records (at most every `CHECKPOINT_MIN_SECONDS`), after
`CHECKPOINT_MAX_SECONDS` otherwise, and at close, so losing ``run.db-wal`` (deleted, or
run.db copied without it) loses at most the last few records. A new run.db is created
complete and renamed into place, so a run.db that exists but is empty or not SQLite is
never taken for a new run: it is refused.

Every record carries a checksum (schema version 2), checked when the store opens for
writing and whenever a record is read, so a damaged record that SQLite's own
``quick_check`` passes is reported by table and key instead of being used.

Bytes: a commit writes every page it touches in full, so new files use 512-byte pages
(`RUN_PAGE_SIZE`) and the rollouts table has no index (schema version 3); a rollout
commit then appends to the last page or two (and page 1, the file header, when the file
grows). ``benchmarks/store_bench.py`` prints the bytes written per rollout against the
bytes kept, and where they go.

Reads that resume needs on every step are served from memory: the keys of the
rollouts this run paid for (and of cache hits it used) are loaded when the store
opens, so `own_rollout` misses are a dict lookup and hits one primary-key read.
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
from gepakit.store._codec import (
    decode_text,
    dumps,
    encode_text,
    loads,
    rollout_from_row,
    rollout_row,
    row_checksum,
)
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
CHECKPOINT_EVERY = 8
"""Records after which the WAL is checkpointed into run.db (rate-limited, see below)."""
CHECKPOINT_MIN_SECONDS = 0.25
"""Checkpoints are at least this far apart: a checkpoint syncs the disk (~10 ms), so
very fast writers pay at most a few percent; they lose at most this much work."""
CHECKPOINT_MAX_SECONDS = 30.0
"""A slow writer's commits are checkpointed after at most this long. A checkpoint syncs
the disk, so this and `CHECKPOINT_EVERY` bound what an OS crash or power loss can cost
(the records since the last checkpoint); at 2 s, a run of 1-second rollouts synced the
disk every other rollout and wrote 2.6x more bytes to the device (store_bench.py)."""
_SQLITE_MAGIC = b"SQLite format 3\x00"

T = TypeVar("T")


class _Write:
    """One `RunStore` call waiting for its commit (see `SQLiteStore._commit`)."""

    __slots__ = ("apply", "done", "error")

    def __init__(self, apply: Callable[[], None]) -> None:
        self.apply = apply
        self.done = False
        self.error: BaseException | None = None


class SQLiteStore:
    """A `RunStore` in ``run_dir/run.db``, optionally backed by a shared `EvalCache`.

    A writer holds ``run_dir/.lock`` until `close` (a second writer gets
    `RunInUseError`). ``readonly=True`` opens without the lock, for status and export
    while a run may be going on; writes then raise `StoreError`.
    Thread-safe: one connection guarded by a lock; writes that arrive together are
    committed together (group commit), each call returning once its record is durable.

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
        """Transactions committed by the `RunStore` calls since the store opened."""
        self.records = 0
        """Records those transactions wrote."""
        self._run_lock: RunLock | None = None
        self._own: dict[RolloutKey, int] = {}
        self._borrowed: dict[RolloutKey, int] = {}
        self._candidates: set[int] = set()
        self._proposals: set[int] = set()
        self._steps: set[tuple[int, int]] = set()
        self._n_deliveries = 0
        self._closed = False
        self._checked = True  # records carry checksums (False: a version-1 file, read-only)
        self._commits = 0
        self._checkpointed = time.monotonic()
        self._owns_cache = False
        self.cache: EvalCache | None = None
        if readonly:
            self._conn = self._connect_reader()
        else:
            self._conn = self._connect_writer()
        try:
            if not readonly:
                self._verify_all()
                # Prove the file is writable now, before any LM call is made.
                self._insert("INSERT OR REPLACE", "meta", ("last_opened", dumps(time.time())))
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
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._check_integrity(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
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
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._check_integrity(conn)
            found = check_readonly_schema(conn, "run", READABLE_RUN_VERSIONS, str(self.path))
            self._checked = found >= 2
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
        for seq, cid, eid, split, paid in self._conn.execute(
            "SELECT seq, candidate_id, example_id, split, paid FROM rollouts"
        ):
            key = (str(decode_text(cid)), str(decode_text(eid)), split)
            (self._own if paid else self._borrowed)[key] = seq
        self._candidates = {r[0] for r in self._conn.execute("SELECT idx FROM candidates")}
        self._proposals = {r[0] for r in self._conn.execute("SELECT idx FROM proposals")}
        self._steps = {(j, s) for j, s in self._conn.execute("SELECT job, step FROM step_results")}
        self._n_deliveries = self._conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]

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

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        cur = self._execute(sql, params)
        if not self._conn.in_transaction:
            self._committed()
        return cur

    def _commit(self, apply: Callable[[], None]) -> None:
        """Run `apply` (the statements of one `RunStore` call) in a committed transaction.

        Calls made while another thread is committing queue up; the first of them to get
        the connection commits the whole queue in one transaction (group commit). Each
        call returns only once the transaction holding its records is committed.

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
                if group:  # empty: a committing thread took ours and was interrupted
                    self._commit_group(group)
        if write.error is not None:
            raise write.error
        if not write.done:
            raise StoreError(
                f"a record was not written to the run store {self.path}: the thread "
                "committing it was interrupted; the run stops here, and a resume redoes it"
            )

    def _commit_group(self, group: list[_Write]) -> None:
        """Commit `group` in one transaction; if that fails, each call on its own.

        An interrupt (KeyboardInterrupt) propagates; the calls it left unwritten are
        reported by their own threads (see `_commit`).
        """
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
        self._committed(len(group))  # after the calls are done: a failed checkpoint
        # raises here, to the committing call (the records are committed)

    def _transaction(self, group: list[_Write]) -> None:
        try:
            self._execute("BEGIN IMMEDIATE")
            for write in group:
                write.apply()
            self._execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._load_index()  # the in-memory keys back to what is committed
            raise
        self.commits += 1
        self.records += len(group)
        for write in group:
            write.done = True

    def _insert(self, verb: str, table: str, values: Sequence[Any]) -> sqlite3.Cursor:
        """``verb INTO table`` of one record, with its checksum."""
        return self._write(self._insert_sql(table, verb), (*values, row_checksum(values)))

    @staticmethod
    def _insert_sql(table: str, verb: str = "INSERT") -> str:
        columns = CHECKED_COLUMNS[table]
        marks = ", ".join("?" * (len(columns) + 1))
        return f"{verb} INTO {table} ({', '.join(columns)}, crc) VALUES ({marks})"

    def _commit_record(
        self, verb: str, table: str, values: Sequence[Any], done: Callable[[], None]
    ) -> None:
        """Commit one record (see `_commit`); `done` updates the in-memory index."""
        params = (*values, row_checksum(values))

        def apply() -> None:
            self._execute(self._insert_sql(table, verb), params)
            done()

        self._commit(apply)

    def _committed(self, records: int = 1) -> None:
        """Checkpoint the WAL into run.db every few records (see the module docstring)."""
        self._commits += records
        elapsed = time.monotonic() - self._checkpointed
        due = self._commits >= CHECKPOINT_EVERY or elapsed >= CHECKPOINT_MAX_SECONDS
        if not due or elapsed < CHECKPOINT_MIN_SECONDS:
            return
        now = time.monotonic()
        self._commits, self._checkpointed = 0, now
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot write to the run store {self.path}: checkpoint failed: {exc} (disk "
                "full? the run stops here; fix it and resume with the same run_dir)"
            ) from exc

    def _select(
        self, table: str, tail: str = "", params: Sequence[Any] = (), *, verify: bool = False
    ) -> list[tuple[Any, ...]]:
        """The records of `table` matching `tail` (WHERE/ORDER clauses).

        Checksums are verified by readers, and by a writer once at open (`_verify_all`):
        after that, a writer reads records it checked or wrote itself.
        """
        columns = CHECKED_COLUMNS[table]
        crc = "crc" if self._checked and (verify or self.readonly) else "NULL"
        sql = f"SELECT {', '.join(columns)}, {crc} FROM {table} {tail}"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values, stored = row[:-1], row[-1]
            if stored is not None and stored != row_checksum(values):
                raise self._damaged(table, values, "fails its checksum")
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
        rows = self._select("rollouts", "WHERE seq = ?", (seq,))
        if not rows:
            raise StoreError(f"the run store {self.path} lost rollout record {seq}")
        values = rows[0]
        return self._decode("rollouts", values, lambda: rollout_from_row(values[3:]))

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

    def _rollout_writer(self, rollout: Rollout, *, paid: bool) -> Callable[[], None]:
        """The statements writing `rollout` as the one row of its key, for `_commit`."""
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

        def apply() -> None:
            old = self._own.pop(key, None)
            old = self._borrowed.pop(key, old)
            if old is not None:
                self._execute("DELETE FROM rollouts WHERE seq = ?", (old,))
            cur = self._execute(self._insert_sql("rollouts"), (*values, crc))
            (self._own if paid else self._borrowed)[key] = int(cur.lastrowid or 0)

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

        def apply() -> None:
            for write in writers:
                write()

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
        self._commit_record(
            "INSERT OR IGNORE", "candidates", values, lambda: self._candidates.add(index)
        )

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
        self._commit_record(
            "INSERT OR IGNORE", "proposals", values, lambda: self._proposals.add(proposal.index)
        )

    def put_step_result(self, job: int, step: int, payload: Mapping[str, Any]) -> None:
        """Record a proposer reply for replay (idempotent by (job, step))."""
        if (job, step) in self._steps:
            return
        values = (int(job), int(step), dumps(dict(payload), what="proposer reply"))
        self._commit_record(
            "INSERT OR IGNORE", "step_results", values, lambda: self._steps.add((job, step))
        )

    def step_result(self, job: int, step: int) -> Mapping[str, Any] | None:
        if (job, step) not in self._steps:
            return None
        rows = self._select("step_results", "WHERE job = ? AND step = ?", (job, step))
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

        def apply() -> None:
            if seq != self._n_deliveries:
                raise StoreError(
                    f"delivery {seq} out of order (the store has {self._n_deliveries})"
                )
            self._execute(self._insert_sql("deliveries"), params)
            self._n_deliveries += 1

        self._commit(apply)

    def deliveries(self) -> list[tuple[int, int]]:
        return [(int(j), int(s)) for _, j, s in self._select("deliveries", "ORDER BY seq")]

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the log."""
        values = (time.time(), encode_text(kind), dumps(dict(data), what="event"))
        self._commit_record("INSERT", "events", values, lambda: None)

    # -- run metadata and readers (not part of RunStore) ---------------------

    def meta(self) -> dict[str, Any]:
        """Every metadata entry (JSON values)."""
        out: dict[str, Any] = {}
        for values in self._select("meta"):
            out[str(decode_text(values[0]))] = self._decode(
                "meta", values, lambda v=values: loads(v[1])
            )
        return out

    def put_meta(self, items: Mapping[str, Any]) -> None:
        """Set metadata entries in one transaction."""
        with self._lock:
            self._write("BEGIN IMMEDIATE")
            try:
                for key, value in items.items():
                    values = (encode_text(str(key)), dumps(value, what=str(key)))
                    self._insert("INSERT OR REPLACE", "meta", values)
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
                for i, ex in enumerate(examples):
                    values = (split, i, encode_text(ex.id), dumps(ex.data, what="example"))
                    self._insert("INSERT", "examples", values)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._write("COMMIT")

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
        for v in self._select("candidates", "ORDER BY idx"):

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
            for v in self._select("proposals", "ORDER BY idx")
        ]

    def rollouts(self, *, paid: bool | None = None) -> Iterator[tuple[bool, Rollout]]:
        """(paid, rollout) of stored rollouts in write order; `paid` filters."""
        where = "" if paid is None else f"WHERE paid = {int(paid)} "
        for v in self._select("rollouts", where + "ORDER BY seq"):
            yield bool(v[0]), self._decode("rollouts", v, lambda v=v: rollout_from_row(v[3:]))

    def rollout(self, key: RolloutKey) -> Rollout | None:
        """The stored rollout for `key`, paid or a cache hit."""
        seq = self._own.get(key, self._borrowed.get(key))
        return None if seq is None else self._read_rollout(seq)

    def events(self, *, last: int | None = None) -> list[tuple[float, str, dict[str, Any]]]:
        """(time, kind, data) of logged events, oldest first; `last` keeps the newest."""
        tail = "ORDER BY seq DESC" + (f" LIMIT {int(last)}" if last else "")
        rows = self._select("events", tail)
        return [
            self._decode(
                "events", v, lambda v=v: (float(v[0]), str(decode_text(v[1])), dict(loads(v[2])))
            )
            for v in reversed(rows)
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
            self._closed = True
            conn = getattr(self, "_conn", None)
            if conn is not None:
                if not self.readonly:  # leave everything in run.db, an empty -wal
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            if self.cache is not None and self._owns_cache:
                self.cache.close()
            if self._run_lock is not None:
                self._run_lock.release()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
