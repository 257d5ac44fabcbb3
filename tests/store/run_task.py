"""Run the fake task with a run_dir in this process (used by the kill -9 tests).

Usage: python run_task.py RUN_DIR OUT_JSON CALLS_LOG [--workers N] [--mcp N]
           [--budget N] [--sleep S] [--kill-reflect K] [--kill-val K]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fake_task

import gepakit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("calls_log")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--mcp", type=int, default=1)
    p.add_argument("--budget", type=int, default=120)
    p.add_argument("--sleep", type=float, default=0.005)
    p.add_argument("--kill-reflect", type=int, default=None)
    p.add_argument("--kill-val", type=int, default=None)
    a = p.parse_args()
    result = gepakit.optimize(
        fake_task.SEED,
        fake_task.TRAIN,
        fake_task.VAL,
        evaluator=fake_task.Evaluator(
            sleep=a.sleep, calls_log=Path(a.calls_log), kill_on_val_call=a.kill_val
        ),
        reflection_lm=fake_task.reflection(sleep=0.02, kill_on_call=a.kill_reflect),
        max_metric_calls=a.budget,
        workers=a.workers,
        max_concurrent_proposals=a.mcp,
        run_dir=a.run_dir,
        seed=1,
    )
    result.to_json(a.out)


if __name__ == "__main__":
    main()
