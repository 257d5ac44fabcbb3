"""Run store durability: unencodable text, the record log, unreadable files, damage."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gepakit.errors import StoreError
from gepakit.runs import load_run, run_status
from gepakit.store import _log
from gepakit.store import _moves as moves_module
from gepakit.store import _read as read_module
from gepakit.store._codec import decode_text, encode_text
from gepakit.store._schema import RUN_PAGE_SIZE, RUN_SCHEMA_VERSION
from gepakit.store.cache import EvalCache
from gepakit.store.sqlite import SQLiteStore
from gepakit.types import Candidate, Example, Proposal

from .test_contract import proposal, rollout

SURROGATE = "caf\udce9 \ud83d"  # a lone low surrogate, then half an emoji


@pytest.mark.parametrize(
    "text", ["plain", "é ✓", SURROGATE, "\ufdd0 starts with the marker", "\ufdd0" + SURROGATE]
)
def test_text_columns_round_trip_exactly(text: str) -> None:
    stored = encode_text(text)
    assert stored is not None
    stored.encode("utf-8")  # SQLite can hold it
    assert decode_text(stored) == text


def test_surrogates_in_every_field_are_stored_and_read_back_exactly(tmp_path: Path) -> None:
    r = rollout(
        cid="c" + SURROGATE,
        eid="e" + SURROGATE,
        feedback="fb " + SURROGATE,
        output={"answer": SURROGATE, SURROGATE: [SURROGATE]},
        trace={"comp": {"outputs": SURROGATE}},
        error="err " + SURROGATE,
    )
    cand = Candidate(components={"instruction": "seed " + SURROGATE})
    prop = Proposal.from_dict({**proposal(0).to_dict(), "reason": SURROGATE})
    cache = tmp_path / "cache.db"
    with SQLiteStore(tmp_path / "run", cache=cache) as s:
        s.put_rollout(r)
        s.put_candidate(0, cand, (), {"origin": SURROGATE})
        s.put_proposal(prop)
        s.put_step_result(1, 1, {"reply": SURROGATE})
        s.put_event("proposal " + SURROGATE, {"x": SURROGATE})
        s.put_examples("val", [Example(id="e" + SURROGATE, data={"q": SURROGATE})])
        s.put_meta({"run " + SURROGATE: SURROGATE})
    with SQLiteStore(tmp_path / "run", cache=cache) as s:
        assert s.own_rollout((r.candidate_id, r.example_id, "val")) == r
        assert s.paid_count == 1
        assert s.candidates()[0][1] == cand
        assert s.proposals() == [prop]
        assert s.step_result(1, 1) == {"reply": SURROGATE}
        assert s.events()[-1][1:] == ("proposal " + SURROGATE, {"x": SURROGATE})
        assert s.examples("val") == [Example(id="e" + SURROGATE, data={"q": SURROGATE})]
        assert s.meta()["run " + SURROGATE] == SURROGATE
    assert EvalCache(cache).get("default", (r.candidate_id, r.example_id, "val")) == r


def test_an_unwritable_value_is_a_store_error_with_context(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s, pytest.raises(StoreError, match=r"run store.*OverflowError"):
        s.put_delivery(0, 2**70, 0)


# -- record log and file checks --------------------------------------------------


def _fill(store: SQLiteStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.put_rollout(rollout(eid=f"e{i}", output="x" * 200))


@pytest.fixture
def eager_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sync by record count alone (tests write far faster than any evaluator)."""
    monkeypatch.setattr(moves_module, "SYNC_MIN_SECONDS", 0.0)


def _copy_as_killed(run: Path, to: Path, *, without: str | None = None) -> None:
    """The files of an open run as a kill -9 would leave them (`without` one of them)."""
    ignore = shutil.ignore_patterns(without) if without else None
    shutil.copytree(run, to, ignore=ignore)
    (to / ".lock").unlink(missing_ok=True)


def test_records_in_the_log_are_moved_into_run_db_when_a_killed_run_is_opened(
    tmp_path: Path,
) -> None:
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 40)
    s.put_candidate(0, Candidate(components={"a": "x"}), (), {"origin": "seed"})
    s.put_delivery(0, 1, 1)
    s.put_event("step", {"n": 1})
    assert s.moves == 0  # every record is still in the log
    _copy_as_killed(tmp_path / "run", tmp_path / "killed")
    s.close()
    with SQLiteStore(tmp_path / "killed", readonly=True) as reader:  # readers see the log
        assert reader.paid_count == 40 and reader.deliveries() == [(1, 1)]
        assert len(reader.candidates()) == 1 and reader.events()[-1][1] == "step"
    with SQLiteStore(tmp_path / "killed") as again:  # a writer moves it
        assert again.paid_count == 40 and again.deliveries() == [(1, 1)]
        assert again.own_rollout(("c1", "e39", "val")) == rollout(eid="e39", output="x" * 200)
        again.put_delivery(1, 1, 2)
    assert not (tmp_path / "killed" / "run.db-log").exists()
    conn = sqlite3.connect(tmp_path / "killed" / "run.db")
    assert conn.execute("SELECT count(*) FROM rollouts").fetchone()[0] == 40
    conn.close()


@pytest.mark.parametrize("cut", [1, 7, 30, "crc"])
def test_a_torn_last_log_record_is_discarded_and_the_rest_kept(
    tmp_path: Path, cut: int | str, caplog: pytest.LogCaptureFixture
) -> None:
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 10)
    _copy_as_killed(tmp_path / "run", tmp_path / "killed")
    s.close()
    log_file = tmp_path / "killed" / "run.db-log"
    data = log_file.read_bytes()
    if cut == "crc":  # the last record's bytes all there, one of them wrong
        log_file.write_bytes(data[:-3] + bytes([data[-3] ^ 1]) + data[-2:])
    else:
        log_file.write_bytes(data[: -int(cut)])
    with SQLiteStore(tmp_path / "killed", readonly=True) as reader:
        assert reader.paid_count == 9
    with SQLiteStore(tmp_path / "killed") as again:
        assert again.paid_count == 9
        assert again.own_rollout(("c1", "e9", "val")) is None
        _fill(again, 5, start=9)  # written after the discarded tail, not behind it
    assert "discarded the last" in caplog.text
    with SQLiteStore(tmp_path / "killed") as again:
        assert again.paid_count == 14


def test_a_log_moved_but_not_emptied_is_not_applied_twice(tmp_path: Path) -> None:
    # A kill between a move's commit and the log's reset leaves records in both.
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 10)
    s.put_event("one", {})
    s.put_delivery(0, 1, 1)
    before = (tmp_path / "run" / "run.db-log").read_bytes()
    s._move(required=True)  # pyright: ignore[reportPrivateUsage]
    _fill(s, 3, start=10)
    _copy_as_killed(tmp_path / "run", tmp_path / "killed")
    s.close()
    after = (tmp_path / "killed" / "run.db-log").read_bytes()
    (tmp_path / "killed" / "run.db-log").write_bytes(before + after[len(_log.MAGIC) :])
    for readonly in (True, False):
        with SQLiteStore(tmp_path / "killed", readonly=readonly) as again:
            assert again.paid_count == 13
            assert [e[1] for e in again.events()] == ["one"]
            assert again.deliveries() == [(1, 1)]
            assert len(list(again.rollouts())) == 13


def test_a_reader_sees_each_record_once_while_the_writer_moves_the_log(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 10)
    s.put_event("one", {})
    reader = SQLiteStore(tmp_path / "run", readonly=True)
    assert reader.paid_count == 10
    s._move(required=True)  # pyright: ignore[reportPrivateUsage]
    _fill(s, 2, start=10)  # in the log, after the reader read it
    assert len(list(reader.rollouts())) == 10  # moved: read from run.db alone, once each
    assert [e[1] for e in reader.events()] == ["one"]
    reader.close()
    with SQLiteStore(tmp_path / "run", readonly=True) as later:
        assert len(list(later.rollouts())) == later.paid_count == 12
    s.close()


def test_a_reader_holding_run_db_puts_a_move_off_instead_of_holding_up_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moves_module, "MOVE_EVERY", 4)
    monkeypatch.setattr(moves_module, "MOVE_MIN_SECONDS", 0.0)
    monkeypatch.setattr(moves_module, "MOVE_RETRY_SECONDS", 0.0)
    s = SQLiteStore(tmp_path / "run")
    reader = sqlite3.connect(tmp_path / "run" / "run.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM rollouts").fetchone()  # holds a shared lock
    started = time.monotonic()
    _fill(s, 10)
    assert time.monotonic() - started < 5  # each put_off move waited ~0.1 s at most
    assert s.moves == 0 and s.paid_count == 10
    reader.execute("COMMIT")
    _fill(s, 1, start=10)
    assert s.moves == 1
    reader.close()
    s.close()
    with SQLiteStore(tmp_path / "run", readonly=True) as again:
        assert again.paid_count == 11


def _fill_run_db_and_log(s: SQLiteStore) -> None:
    """Records of every kind in run.db, and more in the log."""
    cand = Candidate(components={"instruction": "seed"})
    s.put_candidate(0, cand, (), {})
    for i in range(3):
        s.put_delivery(i, 1, i)
        s.put_event("step", {"i": i})
        s.put_meta({f"key{i}": i})
    _fill(s, 10)
    s._move(required=True)  # pyright: ignore[reportPrivateUsage]
    s.put_candidate(1, cand, (0,), {})
    s.put_delivery(3, 1, 3)
    s.put_event("step", {"i": 3})
    s.put_meta({"key3": 3})
    _fill(s, 2, start=10)


@pytest.mark.parametrize(
    ("what", "count"),
    [("rollouts", 12), ("events", 4), ("candidates", 2), ("meta", 5), ("deliveries", 4)],
)
def test_a_reader_checks_run_db_records_after_its_read_transaction_so_moves_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, count: int
) -> None:
    # A reader's read transaction puts a move off (see the test above); checking the
    # checksums of a large run's records (~60 ms per 20,000 rollouts) needs no
    # transaction, so a move that comes while a reader checks them goes on.
    monkeypatch.setattr(moves_module, "MOVE_RETRY_SECONDS", 0.0)
    with SQLiteStore(tmp_path / "run") as s:
        _fill_run_db_and_log(s)  # with records in the log, a reader reads in a transaction
        with SQLiteStore(tmp_path / "run", readonly=True) as reader:
            _fill(s, 1, start=12)  # the writer's next move takes this one too
            pending = reader._pending_rows(what, True)  # pyright: ignore[reportPrivateUsage]
            moves_seen: list[int] = []
            check = read_module.row_checksum

            def check_and_move(values: Any) -> int:
                if not moves_seen and values not in pending:  # a record of run.db
                    s._move(required=False)  # pyright: ignore[reportPrivateUsage]
                    moves_seen.append(s.moves)
                return check(values)

            monkeypatch.setattr(read_module, "row_checksum", check_and_move)
            got = list(getattr(reader, what)())
            assert moves_seen == [2]  # the move was not put off
            assert len(got) == count  # what run.db and the log held when it read


def test_a_log_deleted_while_the_run_is_open_loses_nothing(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 10)
    (tmp_path / "run" / "run.db-log").unlink()
    _fill(s, 50, start=10)  # the first of them moves the deleted log's records
    _copy_as_killed(tmp_path / "run", tmp_path / "after")
    s.close()
    with SQLiteStore(tmp_path / "after") as after:
        assert after.paid_count == 60


def test_run_db_without_its_log_lacks_at_most_the_records_since_the_last_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moves_module, "MOVE_EVERY", 16)
    monkeypatch.setattr(moves_module, "MOVE_MIN_SECONDS", 0.0)
    s = SQLiteStore(tmp_path / "run")
    _fill(s, 100)
    _copy_as_killed(tmp_path / "run", tmp_path / "copy", without="*-log")
    s.close()
    with SQLiteStore(tmp_path / "copy") as copy:
        assert copy.paid_count >= 100 - 16


def test_a_slow_writer_is_moved_after_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moves_module, "MOVE_MAX_SECONDS", 0.0)
    s = SQLiteStore(tmp_path / "run")
    s.put_rollout(rollout())
    s.put_rollout(rollout(eid="e2"))
    _copy_as_killed(tmp_path / "run", tmp_path / "copy", without="*-log")
    s.close()
    with SQLiteStore(tmp_path / "copy") as copy:
        assert copy.paid_count == 2


@pytest.mark.usefixtures("eager_syncs")
def test_the_log_is_synced_every_few_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    s = SQLiteStore(tmp_path / "run")
    log_file = s._log  # pyright: ignore[reportPrivateUsage]
    assert log_file is not None
    monkeypatch.setattr(log_file, "sync", lambda: synced.append(s.records))
    _fill(s, 20)
    s.close()
    every = moves_module.SYNC_EVERY
    assert synced == list(range(every, 21, every))


def test_close_leaves_everything_in_run_db(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        _fill(s, 5)
    assert not (tmp_path / "run.db-log").exists()
    for sidecar in ("run.db-wal", "run.db-journal"):
        path = tmp_path / sidecar
        assert not path.exists() or path.stat().st_size == 0
    conn = sqlite3.connect(tmp_path / "run.db")
    assert conn.execute("SELECT count(*) FROM rollouts").fetchone()[0] == 5
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    conn.close()


def test_a_run_db_log_that_is_not_a_record_log_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    (tmp_path / "run.db-log").write_bytes(b"something else entirely")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="not a gepakit record log"):
            SQLiteStore(tmp_path, readonly=readonly)
    assert (tmp_path / "run.db-log").read_bytes() == b"something else entirely"


@pytest.mark.parametrize("content", [b"", b"x", b"SQLite", b"garbage " * 64])
def test_an_unreadable_run_db_is_refused_not_restarted(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "run.db"
    db.write_bytes(content)
    with pytest.raises(StoreError, match=r"exists but|damaged|not a database"):
        SQLiteStore(tmp_path)
    assert db.read_bytes() == content  # untouched
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path, readonly=True)


def test_a_new_run_db_appears_complete(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "run"):
        assert not (tmp_path / "run" / "run.db.new").exists()
    assert (tmp_path / "run" / "run.db").read_bytes()[:16] == b"SQLite format 3\x00"


# -- damaged records -----------------------------------------------------------


def _run(tmp_path: Path) -> Path:
    with SQLiteStore(tmp_path / "run") as s:
        s.put_rollout(rollout(eid="e1", score=0.5))
        s.put_rollout(rollout(eid="e2", score=0.75))
        s.put_candidate(0, Candidate(components={"a": "x"}), (), {"origin": "seed"})
        s.put_proposal(proposal(0))
        s.put_event("run_started", {"n": 1})
    return tmp_path / "run"


def _tamper(run: Path, sql: str) -> None:
    conn = sqlite3.connect(run / "run.db")
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE rollouts SET score = 0.625 WHERE example_id = 'e2'", "rollouts"),
        ("UPDATE rollouts SET output = '{\"answer\":[1,3]}' WHERE example_id = 'e1'", "rollouts"),
        ("UPDATE rollouts SET example_id = 'e3' WHERE example_id = 'e2'", "rollouts"),
        ('UPDATE candidates SET components = \'{"a":"y"}\'', "candidates"),
        ("UPDATE proposals SET data = '{\"index\":0'", "proposals"),
        ("UPDATE events SET data = '{\"n\":2}'", "events"),
        ("UPDATE meta SET value = '1' WHERE key = 'last_opened'", "meta"),
    ],
)
def test_a_damaged_record_is_reported_by_table_and_key(
    tmp_path: Path, sql: str, table: str
) -> None:
    run = _run(tmp_path)
    _tamper(run, sql)
    with pytest.raises(StoreError, match=rf"damaged: the {table} record \(.*\) fails its checksum"):
        SQLiteStore(run)  # a writer (resume) checks every record before any LM call
    with pytest.raises(StoreError, match="damaged"), SQLiteStore(run, readonly=True) as s:
        list(s.rollouts())
        s.candidates()
        s.proposals()
        s.events()
        s.meta()


def test_damage_is_a_clear_error_in_status_and_load_run(tmp_path: Path) -> None:
    run = _run(tmp_path)
    with SQLiteStore(run) as s:
        s.put_meta({"spec": {"seed_candidate": {"a": "x"}, "max_metric_calls": 10}})
    _tamper(run, "UPDATE candidates SET parents = '[7]'")
    for read in (load_run, run_status):
        with pytest.raises(StoreError, match="candidates record"):
            read(run)


# The tables as version 2 defined them (version 3 rebuilt these four).
V2_TABLES = {
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, crc INTEGER)",
    "step_results": """CREATE TABLE step_results (job INTEGER NOT NULL, step INTEGER NOT NULL,
        payload TEXT NOT NULL, crc INTEGER, PRIMARY KEY (job, step))""",
    "rollouts": """CREATE TABLE rollouts (seq INTEGER PRIMARY KEY, candidate_id TEXT NOT NULL,
        example_id TEXT NOT NULL, split TEXT NOT NULL, paid INTEGER NOT NULL,
        evaluator_id TEXT NOT NULL, score REAL NOT NULL, objectives TEXT NOT NULL,
        feedback TEXT, output TEXT NOT NULL, trace TEXT NOT NULL, usage TEXT NOT NULL,
        duration REAL NOT NULL, error TEXT, created REAL NOT NULL, crc INTEGER,
        UNIQUE (candidate_id, example_id, split))""",
    "events": """CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, crc INTEGER)""",
}
ALL_TABLES = ("meta", "examples", "candidates", "rollouts", "proposals", "step_results")
ALL_TABLES += ("deliveries", "events")


def _downgrade(run: Path, version: int) -> None:
    """Make a current run.db look like one written by schema `version` (1, 2 or 3):
    WAL mode, no record_log table; before 3, version 2's tables; before 2, no crc."""
    conn = sqlite3.connect(run / "run.db")
    conn.execute("DROP TABLE record_log")
    if version <= 2:
        for table, ddl in V2_TABLES.items():
            conn.execute(f"ALTER TABLE {table} RENAME TO {table}_new")
            conn.execute(ddl)
            conn.execute(f"INSERT INTO {table} SELECT * FROM {table}_new")
            conn.execute(f"DROP TABLE {table}_new")
    if version == 1:
        for table in ALL_TABLES:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN crc")
    conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.commit()
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.close()


def _everything(run: Path) -> dict[str, Any]:
    with SQLiteStore(run, readonly=True) as s:
        return {
            "rollouts": list(s.rollouts()),
            "candidates": s.candidates(),
            "proposals": s.proposals(),
            "events": s.events(),
            "deliveries": s.deliveries(),
            "step": s.step_result(1, 1),
            "meta": {k: v for k, v in s.meta().items() if k != "last_opened"},
            "val": s.examples("val"),
        }


def _full_run(tmp_path: Path) -> Path:
    run = _run(tmp_path)
    with SQLiteStore(run) as s:
        s.put_step_result(1, 1, {"reply": "text"})
        s.put_delivery(0, 1, 1)
        s.put_examples("val", [Example(id="e1", data={"q": 1})])
        s.put_rollout(rollout(eid="e1", score=1.0))  # replaced: e1 moves after e2
    return run


def _schema(run: Path) -> tuple[int, dict[str, str], list[Any]]:
    conn = sqlite3.connect(run / "run.db")
    version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    sql = dict(conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table'"))
    indexes = conn.execute("PRAGMA index_list(rollouts)").fetchall()
    conn.close()
    return version, sql, indexes


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_store_is_read_and_upgraded_in_place(tmp_path: Path, version: int) -> None:
    run = _full_run(tmp_path)
    before = _everything(run)
    assert [r.example_id for _, r in before["rollouts"]] == ["e2", "e1"]
    _downgrade(run, version)
    assert bool(_schema(run)[2]) == (version < 3)  # the old key index is there
    assert _everything(run) == before  # readers take it as it is
    with SQLiteStore(run) as s:  # a writer upgrades it, checksums included
        assert s.own_rollout(("c1", "e2", "val")) == rollout(eid="e2", score=0.75)
        assert s.paid_count == 2
    found, sql, indexes = _schema(run)
    assert found == RUN_SCHEMA_VERSION == 4
    assert "record_log" in sql and not (run / "run.db-wal").exists()
    conn = sqlite3.connect(run / "run.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # left WAL mode
    conn.close()
    assert indexes == []  # rollouts: no index, rows appended in seq order
    assert "WITHOUT ROWID" in sql["meta"] and "WITHOUT ROWID" in sql["step_results"]
    assert "AUTOINCREMENT" not in sql["events"]
    assert not any(name.endswith("_v3") for name in sql)
    assert _everything(run) == before
    with SQLiteStore(run) as s:  # the upgraded file takes new writes and keeps keys unique
        s.put_rollout(rollout(eid="e2", score=0.25))
        s.put_event("more", {"n": 2})
        assert [(r.example_id, r.score) for _, r in s.rollouts()] == [("e1", 1.0), ("e2", 0.25)]
    after = _everything(run)
    assert [(r.example_id, r.score) for _, r in after["rollouts"]] == [("e1", 1.0), ("e2", 0.25)]
    assert [e[1] for e in after["events"]] == ["run_started", "more"]
    _tamper(run, "UPDATE rollouts SET score = 0.0 WHERE example_id = 'e2'")
    with pytest.raises(StoreError, match="fails its checksum"):
        SQLiteStore(run)


def test_a_new_store_uses_the_smallest_pages_and_no_rollout_index(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        _fill(s, 3)
    conn = sqlite3.connect(tmp_path / "run.db")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == RUN_PAGE_SIZE == 512
    conn.close()
    assert _schema(tmp_path)[2] == []


def test_a_damaged_cache_record_is_a_miss(tmp_path: Path) -> None:
    cache = EvalCache(tmp_path / "cache.db")
    cache.put("ev", rollout())
    cache.close()
    conn = sqlite3.connect(tmp_path / "cache.db")
    conn.execute("UPDATE rollouts SET data = '{\"score\": '")
    conn.commit()
    conn.close()
    assert EvalCache(tmp_path / "cache.db").get("ev", ("c1", "e1", "val")) is None
