"""The files of a run store: their names, and opening run.db safely.

A new run.db is created complete under another name and renamed into place
(`create_file`), so a run.db that exists but is empty or not SQLite is never taken for
a new run: `check_header` refuses it, and `check_integrity` refuses a damaged one
before anything is read from it. See `gepakit.store.sqlite`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from gepakit.errors import StoreError
from gepakit.store._schema import RUN_PAGE_SIZE, RUN_SCHEMA_VERSION, RUN_TABLES, ensure_schema

DB_NAME = "run.db"
LOG_NAME = DB_NAME + "-log"
OPEN_TIMEOUT_SECONDS = 10.0
"""How long opening, closing and other waits for run.db's lock may take."""
_SQLITE_MAGIC = b"SQLite format 3\x00"


def connect(path: Path) -> sqlite3.Connection:
    """A connection to run.db for a store (autocommit; shared by the store's threads)."""
    return sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=OPEN_TIMEOUT_SECONDS,
    )


def check_header(path: Path) -> None:
    """Refuse a run.db that exists but is not SQLite (empty, truncated, garbage)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"cannot read the run store {path}: {exc}") from exc
    if head != _SQLITE_MAGIC:
        what = "is empty" if size == 0 else f"is not a SQLite file ({size} bytes)"
        raise StoreError(
            f"the run store {path} exists but {what}; nothing was read or written. "
            "If it held a run, restore it from a backup; to start a new run, delete it "
            "or choose another run_dir"
        )


def create_file(path: Path) -> None:
    """Create run.db (`path`) with its tables under another name, then rename it into
    place."""
    tmp = path.with_name(DB_NAME + ".new")
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size = {RUN_PAGE_SIZE}")
        ensure_schema(conn, "run", RUN_SCHEMA_VERSION, RUN_TABLES, str(path))
    finally:
        conn.close()
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a run.db that SQLite's ``quick_check`` finds damaged."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    problems = [r[0] for r in rows if r[0] != "ok"]
    if problems:
        raise StoreError(
            f"the run store {path} is damaged ({'; '.join(problems[:3])}); restore "
            "it from a backup or start a new run_dir. Nothing was read from it."
        )


def open_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The `StoreError` for run.db failing to open, with the likely cause and the fix."""
    text = str(exc)
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        hint = "the run directory and run.db must be writable; choose another run_dir"
    elif "full" in text:
        hint = "the disk is full; free some space or choose another run_dir"
    elif "not a database" in text or "malformed" in text:
        hint = "the file is damaged; restore it from a backup or start a new run_dir"
    else:
        hint = "check the file and its directory"
    return StoreError(f"cannot open the run store {path}: {text}; {hint}")
