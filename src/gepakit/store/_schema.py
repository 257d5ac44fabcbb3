"""SQLite schema of run stores and evaluation caches, and its version check."""

from __future__ import annotations

import sqlite3

from gepakit.errors import SchemaVersionError, StoreError

RUN_SCHEMA_VERSION = 1
CACHE_SCHEMA_VERSION = 1

UPGRADE_HINT = (
    "upgrade gepakit (pip install -U gepakit) to read it, or start a new run_dir; "
    "`gepakit export` of the gepakit version that wrote it saves its records as JSON"
)

RUN_TABLES = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS examples (
        split TEXT NOT NULL,
        position INTEGER NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (split, position)
    )""",
    """CREATE TABLE IF NOT EXISTS candidates (
        idx INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        components TEXT NOT NULL,
        parents TEXT NOT NULL,
        info TEXT NOT NULL
    )""",
    # paid = 1: this run paid the metric call; paid = 0: a hit copied from the shared
    # cache, kept so a resume replays the same hits even if the cache file is gone.
    """CREATE TABLE IF NOT EXISTS rollouts (
        seq INTEGER PRIMARY KEY,
        candidate_id TEXT NOT NULL,
        example_id TEXT NOT NULL,
        split TEXT NOT NULL,
        paid INTEGER NOT NULL,
        evaluator_id TEXT NOT NULL,
        score REAL NOT NULL,
        objectives TEXT NOT NULL,
        feedback TEXT,
        output TEXT NOT NULL,
        trace TEXT NOT NULL,
        usage TEXT NOT NULL,
        duration REAL NOT NULL,
        error TEXT,
        created REAL NOT NULL,
        UNIQUE (candidate_id, example_id, split)
    )""",
    """CREATE TABLE IF NOT EXISTS proposals (
        idx INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        child_id TEXT,
        data TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS step_results (
        job INTEGER NOT NULL,
        step INTEGER NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (job, step)
    )""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        seq INTEGER PRIMARY KEY,
        job INTEGER NOT NULL,
        step INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    )""",
)

CACHE_TABLES = (
    """CREATE TABLE IF NOT EXISTS rollouts (
        evaluator_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        example_id TEXT NOT NULL,
        split TEXT NOT NULL,
        data TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (evaluator_id, candidate_id, example_id, split)
    ) WITHOUT ROWID""",
)


def ensure_schema(
    conn: sqlite3.Connection, kind: str, version: int, tables: tuple[str, ...], path: str
) -> None:
    """Create the tables of a new file, or check the version of an existing one.

    Raises:
        SchemaVersionError: the file is of another kind or another schema version.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (kind TEXT NOT NULL, version INTEGER NOT NULL)"
    )
    rows = conn.execute("SELECT kind, version FROM schema_version").fetchall()
    if not rows:
        conn.execute("BEGIN IMMEDIATE")
        for ddl in tables:
            conn.execute(ddl)
        conn.execute("INSERT INTO schema_version VALUES (?, ?)", (kind, version))
        conn.execute("COMMIT")
        return
    found_kind, found = rows[0]
    if found_kind != kind:
        raise SchemaVersionError(
            f"{path} is a gepakit {found_kind} file, not a {kind} file; "
            f"give the path of a {kind} file"
        )
    if found != version:
        raise SchemaVersionError(
            f"{path} has {kind} schema version {found}, this gepakit reads version "
            f"{version}; {UPGRADE_HINT}"
        )


def check_readonly_schema(conn: sqlite3.Connection, kind: str, version: int, path: str) -> None:
    """Like `ensure_schema` for a reader: the file must already hold a store."""
    try:
        rows = conn.execute("SELECT kind, version FROM schema_version").fetchall()
    except sqlite3.OperationalError:
        rows = []
    if not rows:
        raise StoreError(f"{path} holds no gepakit {kind}")
    found_kind, found = rows[0]
    if found_kind != kind or found != version:
        raise SchemaVersionError(
            f"{path} is a gepakit {found_kind} file of schema version {found}; this gepakit "
            f"reads {kind} version {version}; {UPGRADE_HINT}"
        )
