"""The record log beside run.db (``run.db-log``): records not yet moved into SQLite.

A `RunStore` call appends its records to the log as one log record, written with one
``write()`` call, and returns: a record handed to the operating system survives the
process being killed (SIGKILL included). The store moves the log into run.db in large
batches, one transaction each (see `gepakit.store.sqlite`), so SQLite writes full pages
once instead of a page or two per record.

Format: `MAGIC`, then log records. A log record is a header (payload length, CRC-32 of
the lsn and payload, lsn: the log sequence number, larger than any before it) and
a payload, the UTF-8 JSON of a list of operations ``[table code, params, replaced]``.
run.db holds the lsn of the last record it took (``record_log.moved``); records up to it
are skipped when the log is read, so a log whose moved records were not yet cleared
(a kill between the move's commit and the reset) is never applied twice. lsns only
grow (a failed write leaves a gap). Reading stops at the first record that is
incomplete, fails its checksum or has no larger lsn than the one before: that is a torn
tail (the record being written when the process died, whose call never
returned), which is discarded.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gepakit.errors import StoreError

MAGIC = b"gepakit record log 1\n"
_HEAD = struct.Struct("<IIQ")
TABLE_CODES = {
    "rollouts": "r",
    "candidates": "c",
    "proposals": "p",
    "step_results": "s",
    "deliveries": "d",
    "events": "e",
    "meta": "m",
}
TABLES = {code: table for table, code in TABLE_CODES.items()}

Op = tuple[str, tuple[Any, ...], int | None]
"""One record: (table, params as bound to SQLite with the checksum last, for rollouts
the seq first; the rollout seq this one replaces, or None)."""


_INT64 = (-(1 << 63), (1 << 63) - 1)


def encode(lsn: int, ops: Sequence[Op]) -> bytes:
    """The bytes of log record `lsn` holding `ops`.

    Raises:
        OverflowError, ValueError, TypeError, UnicodeError: a value SQLite cannot store
            or JSON cannot hold (checked here, so that no record in the log can fail its
            move).
    """
    for _, params, _ in ops:
        for value in params:
            kind = type(value)
            if kind is int and not _INT64[0] <= value <= _INT64[1]:
                raise OverflowError("Python int too large to convert to SQLite INTEGER")
            if kind is float and value != value:
                raise ValueError("NaN cannot be stored")
    body = [[TABLE_CODES[table], list(params), replaced] for table, params, replaced in ops]
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    payload = text.encode("utf-8")  # strict: text SQLite could not store raises here
    crc = zlib.crc32(payload, zlib.crc32(lsn.to_bytes(8, "little")))
    return _HEAD.pack(len(payload), crc, lsn) + payload


@dataclass
class LogContents:
    """What `read` found: the records after `moved`, and the bytes it discarded."""

    records: list[tuple[int, list[Op]]] = field(default_factory=lambda: [])
    torn: int = 0
    """Bytes after the last good record (a torn tail, or damage), discarded."""


def read(path: Path, moved: int) -> LogContents:
    """The records of the log at `path` after lsn `moved` (none if there is no log).

    Raises:
        StoreError: the file is not a record log, or cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return LogContents()
    except OSError as exc:
        raise StoreError(f"cannot read the record log {path}: {exc}") from exc
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        return LogContents()  # created but not yet initialized: empty
    if not data.startswith(MAGIC):
        raise StoreError(
            f"{path} is not a gepakit record log; nothing was read or written. Move it "
            "aside if it is not yours (it holds the run's newest records otherwise)"
        )
    out = LogContents()
    pos, last = len(MAGIC), -1
    while pos + _HEAD.size <= len(data):
        size, crc, lsn = _HEAD.unpack_from(data, pos)
        payload = data[pos + _HEAD.size : pos + _HEAD.size + size]
        if len(payload) < size or zlib.crc32(payload, zlib.crc32(lsn.to_bytes(8, "little"))) != crc:
            break
        if lsn <= last:  # older bytes behind newer ones (an OS crash after a reset)
            break
        ops = _decode(payload)
        if ops is None:
            break
        if lsn > moved:
            out.records.append((lsn, ops))
        pos, last = pos + _HEAD.size + size, lsn
    out.torn = len(data) - pos
    return out


def _decode(payload: bytes) -> list[Op] | None:
    try:
        body = json.loads(payload.decode("utf-8"))
        return [(TABLES[code], tuple(params), replaced) for code, params, replaced in body]
    except (ValueError, TypeError, KeyError):
        return None


class RecordLog:
    """The writer's open log file: appends, syncs, resets, notices being deleted.

    Not thread-safe: the store calls it under its lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.reset()
        with contextlib.suppress(OSError):  # make the new file's name durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def append(self, data: bytes) -> None:
        """Write `data` at the end with one write(); on failure, leave the log as it was.

        Raises:
            OSError: the write failed (disk full, read-only file system ...).
        """
        start = self.size
        try:
            done = os.write(self.fd, data)
            while done < len(data):  # a short write: the rest, or the error behind it
                done += os.write(self.fd, data[done:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, start)
            raise
        self.size = start + len(data)

    def sync(self) -> None:
        os.fsync(self.fd)

    def reset(self) -> None:
        """Empty the log (its records are in run.db). Shortening a file needs no free
        space, so this cannot fail on a full disk once the log has its `MAGIC`."""
        if self.size > len(MAGIC):
            os.ftruncate(self.fd, len(MAGIC))
            self.size = len(MAGIC)
        elif self.size < len(MAGIC):  # new (or cut short while being created)
            os.ftruncate(self.fd, 0)
            self.size = 0
            self.append(MAGIC)

    def detached(self) -> bool:
        """Whether the file was deleted (or replaced by a rename) since it was opened."""
        return os.fstat(self.fd).st_nlink == 0

    def close(self, *, delete: bool) -> None:
        os.close(self.fd)
        if delete:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def write_error(path: Path, exc: OSError) -> StoreError:
    """The `StoreError` for a failed append to the log of the run store at `path`."""
    return StoreError(
        f"cannot write to the run store {path}: {type(exc).__name__}: {exc} (disk full "
        "or read-only? the run stops here; fix it and resume with the same run_dir)"
    )


class Pending:
    """The records in the log that run.db does not hold yet, for reading them back."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.rollouts: dict[int, tuple[Any, ...]] = {}
        """seq -> params of the pending rollouts still current (not replaced)."""
        self.dropped: set[int] = set()
        """Rollout seqs replaced by a pending record (their rows in run.db are stale)."""
        self.bytes = 0

    def add(self, ops: Sequence[Op], size: int) -> None:
        for op in ops:
            table, params, replaced = op
            self.ops.append(op)
            if table == "rollouts":
                if replaced is not None:
                    self.dropped.add(replaced)
                    self.rollouts.pop(replaced, None)
                self.rollouts[int(params[0])] = params
        self.bytes += size

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """The params of the pending records of `table`, in log order."""
        if table == "rollouts":
            return list(self.rollouts.values())
        return [params for t, params, _ in self.ops if t == table]
