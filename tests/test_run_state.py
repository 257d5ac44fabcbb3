"""`gepakit.run_state.is_active`: sees a held run lock without ever taking it."""

from __future__ import annotations

import threading
from pathlib import Path

from gepakit.run_state import is_active
from gepakit.store.lock import RunLock


def test_is_active_sees_a_held_lock(tmp_path: Path) -> None:
    assert not is_active(tmp_path)
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        assert is_active(tmp_path)
    finally:
        lock.release()
    assert not is_active(tmp_path)


def test_watching_never_makes_a_starting_run_fail(tmp_path: Path) -> None:
    """A check that took the lock, even briefly, would make some acquires fail here."""
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            is_active(tmp_path)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for _ in range(300):
            lock = RunLock(tmp_path)
            lock.acquire()  # raises RunInUseError if the poller held the lock
            lock.release()
    finally:
        done.set()
        poller.join()
