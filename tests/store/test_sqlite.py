"""SQLiteStore specifics: persistence, damage, permissions, locking, schema, shared cache."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gepakit.errors import RunInUseError, SchemaVersionError, StoreError
from gepakit.store import _moves as moves_module
from gepakit.store.cache import EvalCache
from gepakit.store.sqlite import SQLiteStore
from gepakit.types import Candidate

from .test_contract import proposal, rollout


def test_records_survive_reopening(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        s.put_rollout(rollout())
        s.put_candidate(0, Candidate(components={"a": "x"}), (), {"origin": "seed"})
        s.put_proposal(proposal(0))
        s.put_step_result(1, 1, {"texts": {"a": "y"}})
        s.put_delivery(0, 0, 0)
        s.put_meta({"spec": {"seed": 1}})
    with SQLiteStore(tmp_path) as s:
        assert s.own_rollout(("c1", "e1", "val")) == rollout()
        assert s.paid_count == 1
        assert s.candidates()[0][1] == Candidate(components={"a": "x"})
        assert s.proposals() == [proposal(0)]
        assert s.step_result(1, 1) == {"texts": {"a": "y"}}
        assert s.deliveries() == [(0, 0)]
        s.put_delivery(1, 0, 1)  # numbering continues after a reopen
        assert s.meta()["spec"] == {"seed": 1}


def test_objects_json_cannot_hold_are_stored_by_repr_never_pickled(tmp_path: Path) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    with SQLiteStore(tmp_path) as s:
        s.put_rollout(rollout(output=Opaque(), trace={"x": {1, 2}}))
    with SQLiteStore(tmp_path) as s:
        got = s.own_rollout(("c1", "e1", "val"))
    assert got is not None
    assert got.output == {"__repr__": "<Opaque>"}
    assert got.trace == {"x": {"__repr__": "{1, 2}"}}
    assert b"pickle" not in (tmp_path / "run.db").read_bytes()


def test_a_second_writer_in_this_process_gets_run_in_use(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path), pytest.raises(RunInUseError, match=f"pid {os.getpid()}"):
        SQLiteStore(tmp_path)
    SQLiteStore(tmp_path).close()  # released on close


def test_lock_contention_between_processes_and_release_on_kill(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        from gepakit.store.sqlite import SQLiteStore
        s = SQLiteStore({str(tmp_path)!r})
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUseError, match=f"in use by pid {proc.pid}"):
            SQLiteStore(tmp_path)
        with SQLiteStore(tmp_path, readonly=True) as reader:  # readers need no lock
            assert reader.paid_count == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    SQLiteStore(tmp_path).close()  # the kernel released the lock of the killed process


def test_truncated_database_is_a_clear_store_error(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        for i in range(300):
            s.put_rollout(rollout(eid=f"e{i}", output="x" * 500))
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # pyright: ignore[reportPrivateUsage]
    db = tmp_path / "run.db"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"damaged|malformed"):
        SQLiteStore(tmp_path)
    with pytest.raises(StoreError, match=r"damaged|malformed"):
        SQLiteStore(tmp_path, readonly=True)


def test_garbage_file_is_a_clear_store_error(tmp_path: Path) -> None:
    (tmp_path / "run.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="run store"):
        SQLiteStore(tmp_path)


def test_unknown_schema_version_names_the_fix(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "run.db")
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"version 99.*upgrade gepakit"):
        SQLiteStore(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_fails_before_anything_runs(tmp_path: Path) -> None:
    run = tmp_path / "ro"
    run.mkdir()
    run.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="writable"):
            SQLiteStore(run)
    finally:
        run.chmod(0o700)


def test_unwritable_run_dir_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the run directory"):
        SQLiteStore(tmp_path / "file" / "run")


def test_read_only_database_file_fails_on_open(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    for p in tmp_path.glob("run.db*"):
        p.chmod(0o400)
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    try:
        with pytest.raises(StoreError, match=r"writable|readonly"):
            SQLiteStore(tmp_path)
    finally:
        for p in tmp_path.glob("run.db*"):
            p.chmod(0o600)


def test_disk_full_during_a_run_is_a_store_error(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        s._conn.execute("PRAGMA max_page_count = 20")  # pyright: ignore[reportPrivateUsage]
        with pytest.raises(StoreError, match="full"):
            for i in range(1000):
                s.put_rollout(rollout(eid=f"e{i}", output="x" * 1000))


def test_readonly_store_refuses_writes(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    with SQLiteStore(tmp_path, readonly=True) as s, pytest.raises(StoreError, match="read-only"):
        s.put_event("x", {})
    with pytest.raises(StoreError, match="no gepakit run"):
        SQLiteStore(tmp_path / "missing", readonly=True)


def test_shared_cache_serves_other_runs_and_hits_survive_losing_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache.db"
    with SQLiteStore(tmp_path / "a", cache=cache, evaluator_id="ev") as a:
        a.put_rollout(rollout())
    with SQLiteStore(tmp_path / "b", cache=cache, evaluator_id="ev") as b:
        assert b.own_rollout(("c1", "e1", "val")) is None
        assert b.shared_rollout(("c1", "e1", "val")) == rollout()
        assert b.hit_count == 1
    with SQLiteStore(tmp_path / "c", cache=cache, evaluator_id="other") as c:
        assert c.shared_rollout(("c1", "e1", "val")) is None  # keyed by evaluator id
    cache.unlink()
    with SQLiteStore(tmp_path / "b") as b:  # a resume replays the same hit without the cache
        assert b.shared_rollout(("c1", "e1", "val")) == rollout()
    assert len(EvalCache(tmp_path / "fresh.db")) == 0


# -- one row per key, group commit ------------------------------------------------


def test_writing_a_key_again_keeps_one_row_the_latest(tmp_path: Path) -> None:
    cache = EvalCache(tmp_path / "cache.db")
    cache.put("default", rollout(eid="hit", score=0.25))
    with SQLiteStore(tmp_path / "run", cache=cache) as s:
        s.put_rollout(rollout(eid="e1", score=0.5))
        s.put_rollout(rollout(eid="e1", score=0.75))
        assert s.shared_rollout(("c1", "hit", "val")) is not None  # copied in, unpaid
        s.put_rollout(rollout(eid="hit", score=1.0))  # then paid here
        assert (s.paid_count, s.hit_count) == (2, 0)
    with SQLiteStore(tmp_path / "run") as s:
        stored = [(paid, r.example_id, r.score) for paid, r in s.rollouts()]
        assert stored == [(True, "e1", 0.75), (True, "hit", 1.0)]
        assert s.own_rollout(("c1", "e1", "val")) == rollout(eid="e1", score=0.75)
    cache.close()


def _queue_while_busy(store: SQLiteStore, calls: list[Any]) -> list[BaseException | None]:
    """Run `calls` on threads while the store's connection is busy, so they queue up;
    then free it. Returns each call's exception (None: it returned)."""
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            calls[i]()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    with store._lock:  # pyright: ignore[reportPrivateUsage]  # a commit in progress
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(store._queue) < len(calls):  # pyright: ignore[reportPrivateUsage]
            assert time.monotonic() < deadline, "the calls did not queue up"
            time.sleep(0.001)
    for t in threads:
        t.join()
    return errors


def test_calls_arriving_together_share_one_commit_and_return_once_committed(
    tmp_path: Path,
) -> None:
    s = SQLiteStore(tmp_path)
    before = s.commits
    calls: list[Any] = [lambda i=i: s.put_rollout(rollout(eid=f"e{i}")) for i in range(6)]
    calls.append(lambda: s.put_delivery(0, 1, 1))
    assert _queue_while_busy(s, calls) == [None] * 7
    assert (s.commits - before, s.paid_count) == (1, 6)
    # Every call had returned, so every record is committed: another connection sees them.
    with SQLiteStore(tmp_path, readonly=True) as reader:
        assert reader.paid_count == 6 and reader.deliveries() == [(1, 1)]
    s.close()


def test_a_failing_call_in_a_group_fails_alone(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path)
    calls: list[Any] = [lambda i=i: s.put_rollout(rollout(eid=f"e{i}")) for i in range(3)]
    calls.insert(1, lambda: s.put_delivery(5, 1, 1))  # out of order: refused
    errors = _queue_while_busy(s, calls)
    assert isinstance(errors[1], StoreError) and "out of order" in str(errors[1])
    assert [e is None for i, e in enumerate(errors) if i != 1] == [True] * 3
    assert s.paid_count == 3
    s.put_delivery(0, 1, 1)  # the in-memory index still matches the file
    s.close()
    with SQLiteStore(tmp_path, readonly=True) as reader:
        assert reader.paid_count == 3 and reader.deliveries() == [(1, 1)]


def test_a_group_that_cannot_be_written_fails_every_call_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = SQLiteStore(tmp_path)
    s.put_rollout(rollout(eid="kept"))

    def read_only(data: bytes) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(s._log, "append", read_only)  # pyright: ignore[reportPrivateUsage]
    calls: list[Any] = [lambda i=i: s.put_rollout(rollout(eid=f"e{i}")) for i in range(4)]
    errors = _queue_while_busy(s, calls)
    assert all(isinstance(e, StoreError) and "Read-only" in str(e) for e in errors)
    assert s.paid_count == 1 and s.own_rollout(("c1", "e0", "val")) is None
    monkeypatch.undo()
    s.put_delivery(0, 1, 1)  # the in-memory index still matches the log
    s.close()
    with SQLiteStore(tmp_path, readonly=True) as reader:
        assert reader.paid_count == 1 and reader.deliveries() == [(1, 1)]


def test_rollouts_that_finish_together_are_one_commit(tmp_path: Path) -> None:
    cache = EvalCache(tmp_path / "cache.db")
    with SQLiteStore(tmp_path / "run", cache=cache) as s:
        s.put_rollout(rollout(eid="e0", score=0.5))
        before = s.commits
        s.put_rollouts([rollout(eid=f"e{i}", score=1.0) for i in range(5)])
        assert (s.commits - before, s.paid_count) == (1, 5)
    with SQLiteStore(tmp_path / "run", readonly=True) as s:
        assert [(r.example_id, r.score) for _, r in s.rollouts()] == [
            (f"e{i}", 1.0) for i in range(5)
        ]
    assert cache.get("default", ("c1", "e4", "val")) == rollout(eid="e4", score=1.0)
    cache.close()


def test_a_lone_rollout_appends_its_record_to_the_log_and_run_db_takes_whole_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards the write amplification (benchmarks/store_bench.py): a label-sized rollout
    # costs its log record, and run.db is written in moves of MOVE_EVERY records.
    monkeypatch.setattr(moves_module, "MOVE_MIN_SECONDS", 0.0)
    with SQLiteStore(tmp_path) as s:
        s.put_rollout(rollout(eid="first"))
        log_file = tmp_path / "run.db-log"
        db = tmp_path / "run.db"
        start, db_start = log_file.stat().st_size, db.stat().st_size
        for i in range(100):
            s.put_rollout(rollout(cid=f"{i // 50:064x}", eid=f"e{i}", feedback="correct"))
        per_rollout = (log_file.stat().st_size - start) / 100
        assert db.stat().st_size == db_start  # nothing moved yet
        last = s._pending.rows("rollouts")[-1]  # pyright: ignore[reportPrivateUsage]
        assert per_rollout <= len(json.dumps(last)) + 30  # the values as JSON, a header
        for i in range(100, moves_module.MOVE_EVERY - 1):  # with "first": MOVE_EVERY
            s.put_rollout(rollout(cid=f"{i // 50:064x}", eid=f"e{i}", feedback="correct"))
        assert s.moves == 1 and log_file.stat().st_size == len(b"gepakit record log 1\n")
    # 512-byte pages, and a journal that holds only the pages a move changed.
    assert (tmp_path / "run.db").stat().st_size <= moves_module.MOVE_EVERY * 400


def test_a_closed_store_leaves_run_db_alone_and_reopens(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as s:
        s.put_rollout(rollout(eid="a"))
    # No record log, no empty journal: nothing that looks like a run in progress.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run.db")) == ["run.db"]
    with SQLiteStore(tmp_path) as s:
        assert s.own_rollout(("c1", "a", "val")) is not None
        s.put_rollout(rollout(eid="b"))
    assert not (tmp_path / "run.db-journal").exists()


def test_a_call_whose_committing_thread_is_interrupted_is_an_error_not_a_silent_loss(
    tmp_path: Path,
) -> None:
    s = SQLiteStore(tmp_path)
    real = s._transaction  # pyright: ignore[reportPrivateUsage]
    interrupted = [False]

    def interrupt_once(group: list[Any]) -> None:
        if not interrupted[0] and len(group) > 1:
            interrupted[0] = True
            raise KeyboardInterrupt
        real(group)

    s._transaction = interrupt_once  # type: ignore[method-assign]
    calls: list[Any] = [lambda i=i: s.put_rollout(rollout(eid=f"e{i}")) for i in range(3)]
    errors = _queue_while_busy(s, calls)
    assert interrupted[0]
    assert sum(isinstance(e, KeyboardInterrupt) for e in errors) == 1  # the committing one
    others = [e for e in errors if not isinstance(e, KeyboardInterrupt)]
    assert all(isinstance(e, StoreError) and "interrupted" in str(e) for e in others)
    assert s.paid_count == 0
    s.put_rollout(rollout(eid="after"))  # the store still works
    assert s.paid_count == 1
    s.close()
