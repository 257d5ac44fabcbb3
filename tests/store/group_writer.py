"""Write rollouts from several threads, logging each one once `put_rollout` returned.

Usage: python group_writer.py RUN_DIR ACK_LOG THREADS PER_THREAD [MOVE_EVERY]

Used by the kill -9 test of group commit: every rollout in ACK_LOG was acknowledged
by the store, so it must be in the run after the process is killed.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from pathlib import Path

from gepakit.store import _moves as moves_module
from gepakit.store.sqlite import SQLiteStore
from gepakit.types import Rollout


def main() -> None:
    run_dir, ack_log, threads, per_thread = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5])
    if len(sys.argv) > 5:  # move the log often, so that a kill may land in a move
        moves_module.MOVE_EVERY, moves_module.MOVE_MIN_SECONDS = int(sys.argv[5]), 0.0
    store = SQLiteStore(Path(run_dir))
    ack = os.open(ack_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def worker(k: int) -> None:
        pause = random.Random(k)
        for i in range(per_thread):
            time.sleep(pause.uniform(0, 0.001))
            eid = f"t{k}-{i}"
            store.put_rollout(
                Rollout(candidate_id="c", example_id=eid, split="val", score=0.5, output="x" * 300)
            )
            os.write(ack, f"{eid}\n".encode())

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    store.close()


if __name__ == "__main__":
    main()
