"""An exclusive, crash-released lock on a run directory.

`fcntl.flock` locks belong to the open file, so the kernel releases them when the
process dies, even by SIGKILL: a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

from gepakit.errors import RunInUseError, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """Holds ``run_dir/.lock`` exclusively while the run is open for writing."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            RunInUseError: another process (or another store in this one) holds it.
            StoreError: the lock file cannot be created (read-only directory...).
        """
        try:
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock file {self.path}: {exc}; the run directory must be "
                "writable (choose another run_dir or fix its permissions)"
            ) from exc
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "unknown"
                f.close()
                raise RunInUseError(
                    f"run {self.path.parent} is in use by pid {holder}; wait for it to finish, "
                    "stop it (create a STOP file in the run directory), or use another run_dir"
                ) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        except OSError as exc:
            f.close()
            raise StoreError(f"cannot write the lock file {self.path}: {exc}") from exc
        self._file = f

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        f, self._file = self._file, None
        if f is None:
            return
        with contextlib.suppress(OSError):
            f.close()  # closing the file releases the flock
