"""`StoreReads`: reading a run store, run.db plus the records still in its log.

The read side of `gepakit.store.sqlite.SQLiteStore`, shared by the writer (resume reads
what it wrote) and by readers (``readonly=True``: status, report, export, `load_run`),
which open without the run lock while a run may be going on. A reader takes the log's
records when it opens (`_read_log`) and serves them until the writer moves the log
into run.db (a move takes every record); from then on run.db alone holds them (see
`_reading`). Every record a reader returns is checked against its checksum.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gepakit.engine.protocols import RolloutKey
from gepakit.errors import StoreError
from gepakit.store import _log
from gepakit.store._codec import decode_text, loads, rollout_from_row, row_checksum
from gepakit.store._files import LOG_NAME
from gepakit.store._log import Pending
from gepakit.store._schema import CHECKED_COLUMNS
from gepakit.types import Candidate, Example, Proposal, Rollout

T = TypeVar("T")


class StoreReads:
    """The reads of `SQLiteStore` (see there for the contract and thread-safety).

    Holds no state of its own: `SQLiteStore.__init__` sets the attributes below.
    """

    path: Path
    readonly: bool
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _log_path: Path
    _pending: Pending
    _base: int  # the lsn run.db held when `_pending` was read (readers)
    _version: int
    _checked: bool  # records carry checksums (False: a version-1 file, read-only)
    _own: dict[RolloutKey, int]
    _borrowed: dict[RolloutKey, int]
    _candidates: set[int]
    _proposals: set[int]
    _steps: set[tuple[int, int]]
    _n_deliveries: int
    _next_seq: int

    # -- what run.db and the log hold -----------------------------------------

    def _moved_lsn(self) -> int:
        """The lsn of the last log record run.db holds (0: none, or an older schema)."""
        if self._version < 4:
            return 0
        return int(self._conn.execute("SELECT moved FROM record_log").fetchone()[0])

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
        read from run.db alone. The check and the reads share one read transaction,
        which puts the writer's moves off: only the reads go in it (`_fetch`), and the
        records are checked after it (`_verified`).
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
        return self._verified(
            table, self._fetch(table, tail, params, verify=verify, lead=lead), lead
        )

    def _fetch(
        self,
        table: str,
        tail: str = "",
        params: Sequence[Any] = (),
        *,
        verify: bool = False,
        lead: str = "",
    ) -> list[tuple[Any, ...]]:
        """`_select`'s rows as stored, each with its checksum last (None: not checked);
        `_verified` checks them."""
        columns = CHECKED_COLUMNS[table]
        crc = "crc" if self._checked and (verify or self.readonly) else "NULL"
        first = f"{lead}, " if lead else ""
        sql = f"SELECT {first}{', '.join(columns)}, {crc} FROM {table} {tail}"
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _verified(
        self, table: str, rows: list[tuple[Any, ...]], lead: str = ""
    ) -> list[tuple[Any, ...]]:
        """The records of `_fetch`'s `rows`, each checked against its checksum.

        Readers check them after their read transaction (see `_reading`): it puts a
        move off, and the checksums of a large run take a while (~60 ms per 20,000
        rollouts).

        Raises:
            StoreError: a record fails its checksum.
        """
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

    # -- readers ------------------------------------------------------------

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

    def deliveries(self) -> list[tuple[int, int]]:
        with self._reading() as fresh:
            stored = self._fetch("deliveries", "ORDER BY seq")
            pending = self._pending_rows("deliveries", fresh)
        rows = self._verified("deliveries", stored) + pending
        return [(int(j), int(s)) for _, j, s in rows]

    def meta(self) -> dict[str, Any]:
        """Every metadata entry (JSON values)."""
        out: dict[str, Any] = {}
        with self._reading() as fresh:
            stored = self._fetch("meta")
            pending = self._pending_rows("meta", fresh)
        rows = self._verified("meta", stored) + pending
        for values in rows:  # the log's newer values last
            out[str(decode_text(values[0]))] = self._decode(
                "meta", values, lambda v=values: loads(v[1])
            )
        return out

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
            stored = self._fetch(table, f"ORDER BY {key}")
            pending = self._pending_rows(table, fresh)
        rows = self._verified(table, stored)
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
            stored = self._fetch("rollouts", where + "ORDER BY seq", lead="seq")
            pending = self._pending_rows("rollouts", fresh)
            dropped = set(self._pending.dropped) if fresh else set[int]()
        rows = self._verified("rollouts", stored, "seq")
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
            stored = self._fetch("events", tail)
            pending = self._pending_rows("events", fresh)
        rows = self._verified("events", stored)[::-1] + pending
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
