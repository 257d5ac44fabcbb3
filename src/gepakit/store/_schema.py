"""SQLite schema of run stores and evaluation caches, and its version check."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping

from gepakit.errors import SchemaVersionError, StoreError
from gepakit.store._codec import ROLLOUT_COLUMNS, row_checksum

RUN_SCHEMA_VERSION = 4
"""2 added a per-record checksum (``crc``) to every table. 3 cut the pages a commit
touches: the rollouts table lost its index on (candidate_id, example_id, split), which
doubled the pages of every rollout commit (the store keeps that key unique itself: it
holds every key in memory); meta and step_results became WITHOUT ROWID tables (one
b-tree instead of a table plus its key index); events lost AUTOINCREMENT (which wrote
sqlite_sequence on every event; events are never deleted, so seq is never reused).
Older files are upgraded in place when a run is opened for writing (`V3_TABLES` are
rebuilt, rows, seq and checksums kept), and read as they are by readers. 4 added the
record log (``run.db-log``, `gepakit.store._log`): the ``record_log`` table holds the lsn
of the last log record moved into run.db. A gepakit that reads version 3 would not see
the records still in the log, so it refuses version 4."""
READABLE_RUN_VERSIONS = (1, 2, 3, 4)
RUN_PAGE_SIZE = 512
"""Page size of new run stores (SQLite's smallest). Before schema 4 every rollout was a
commit of its own, which wrote each page it touched in full, so the page size was the
floor of what a rollout cost (512-byte pages wrote 25-30% fewer bytes than 1 KB pages
and 2-3x fewer than 4 KB ones). Since the record log moves records in batches it
matters less; 512-byte pages still keep a whole run smallest (measured 2026-12-02 with
``benchmarks/store_bench.py``, 20k-call run: 329 B per call kept, 720 written; 1 KB
pages 309 / 708; 4 KB pages 448 / 889), at the same read speed; rows larger than a page
continue on overflow pages. Files created with another page size keep it."""
CACHE_SCHEMA_VERSION = 1

CHECKED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "examples": ("split", "position", "id", "data"),
    "candidates": ("idx", "id", "components", "parents", "info"),
    "rollouts": ("paid", "evaluator_id", "created", *ROLLOUT_COLUMNS.split(", ")),
    "proposals": ("idx", "kind", "decision", "reason", "child_id", "data"),
    "step_results": ("job", "step", "payload"),
    "deliveries": ("seq", "job", "step"),
    "events": ("time", "kind", "data"),
}
"""Per table, the columns a record's checksum covers, in order."""

UPGRADE_HINT = (
    "upgrade gepakit (pip install -U gepakit) to read it, or start a new run_dir; "
    "`gepakit export` of the gepakit version that wrote it saves its records as JSON"
)

RECORD_LOG_TABLE = (
    "CREATE TABLE IF NOT EXISTS record_log (moved INTEGER NOT NULL)",
    "INSERT INTO record_log SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM record_log)",
)
"""One row: the lsn of the last record of ``run.db-log`` that run.db holds."""

RUN_TABLES = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        crc INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS examples (
        split TEXT NOT NULL,
        position INTEGER NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        crc INTEGER,
        PRIMARY KEY (split, position)
    )""",
    """CREATE TABLE IF NOT EXISTS candidates (
        idx INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        components TEXT NOT NULL,
        parents TEXT NOT NULL,
        info TEXT NOT NULL,
        crc INTEGER
    )""",
    # paid = 1: this run paid the metric call; paid = 0: a hit copied from the shared
    # cache, kept so a resume replays the same hits even if the cache file is gone.
    # One row per (candidate_id, example_id, split), kept so by SQLiteStore (no index:
    # rows are appended in seq order, and a commit touches only the last page or two).
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
        crc INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS proposals (
        idx INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        child_id TEXT,
        data TEXT NOT NULL,
        crc INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS step_results (
        job INTEGER NOT NULL,
        step INTEGER NOT NULL,
        payload TEXT NOT NULL,
        crc INTEGER,
        PRIMARY KEY (job, step)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        seq INTEGER PRIMARY KEY,
        job INTEGER NOT NULL,
        step INTEGER NOT NULL,
        crc INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        crc INTEGER
    )""",
    *RECORD_LOG_TABLE,
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


Migration = Callable[[sqlite3.Connection], None]


def ensure_schema(
    conn: sqlite3.Connection,
    kind: str,
    version: int,
    tables: tuple[str, ...],
    path: str,
    migrations: Mapping[int, Migration] | None = None,
) -> None:
    """Create the tables of a new file, or check (and upgrade) the version of an existing one.

    `migrations` maps an older version to the function upgrading it by one version;
    each runs in one transaction with the version bump.

    Raises:
        SchemaVersionError: the file is of another kind or a version this gepakit cannot
            read or upgrade.
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
    while found != version and migrations and found in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations[found](conn)
            conn.execute("UPDATE schema_version SET version = ?", (found + 1,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        found += 1
    if found != version:
        raise SchemaVersionError(
            f"{path} has {kind} schema version {found}, this gepakit reads version "
            f"{version}; {UPGRADE_HINT}"
        )


def add_checksums(conn: sqlite3.Connection) -> None:
    """Upgrade a run store from version 1 to 2: a checksum column on every table,
    filled for the records already there (their current bytes are taken as intact)."""
    for table, columns in CHECKED_COLUMNS.items():
        conn.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER")
        rows = conn.execute(f"SELECT rowid, {', '.join(columns)} FROM {table}").fetchall()
        conn.executemany(
            f"UPDATE {table} SET crc = ? WHERE rowid = ?",
            [(row_checksum(row[1:]), row[0]) for row in rows],
        )


V3_TABLES: Mapping[str, tuple[str, ...]] = {
    "meta": CHECKED_COLUMNS["meta"],
    "step_results": CHECKED_COLUMNS["step_results"],
    "rollouts": ("seq", *CHECKED_COLUMNS["rollouts"]),
    "events": ("seq", *CHECKED_COLUMNS["events"]),
}
"""The tables version 3 changed, with the columns their rebuild copies (besides crc)."""


def rebuild_lean_tables(conn: sqlite3.Connection) -> None:
    """Upgrade a run store from version 2 to 3: rebuild `V3_TABLES` with version 3's
    definitions, keeping every row, its seq and its checksum."""
    for table, kept in V3_TABLES.items():
        ddl = next(t for t in RUN_TABLES if f"EXISTS {table} (" in t)
        conn.execute(ddl.replace(f"EXISTS {table} (", f"EXISTS {table}_v3 (", 1))
        columns = ", ".join((*kept, "crc"))
        conn.execute(f"INSERT INTO {table}_v3 ({columns}) SELECT {columns} FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_v3 RENAME TO {table}")


def add_record_log(conn: sqlite3.Connection) -> None:
    """Upgrade a run store from version 3 to 4: the ``record_log`` table (nothing moved)."""
    for statement in RECORD_LOG_TABLE:
        conn.execute(statement)


RUN_MIGRATIONS: Mapping[int, Migration] = {
    1: add_checksums,
    2: rebuild_lean_tables,
    3: add_record_log,
}


def check_readonly_schema(
    conn: sqlite3.Connection, kind: str, version: int | tuple[int, ...], path: str
) -> int:
    """Like `ensure_schema` for a reader: the file must already hold a store.

    Returns:
        The version found (one of `version`).
    """
    versions = (version,) if isinstance(version, int) else version
    try:
        rows = conn.execute("SELECT kind, version FROM schema_version").fetchall()
    except sqlite3.OperationalError:
        rows = []
    if not rows:
        raise StoreError(f"{path} holds no gepakit {kind}")
    found_kind, found = rows[0]
    if found_kind != kind or found not in versions:
        raise SchemaVersionError(
            f"{path} is a gepakit {found_kind} file of schema version {found}; this gepakit "
            f"reads {kind} version {versions[-1]}; {UPGRADE_HINT}"
        )
    return int(found)
