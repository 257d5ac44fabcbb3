"""Run a small optimization whose task LM is the fake server (used by the Ctrl-C tests).

Usage: python ctrlc_run.py URL RUN_DIR WORKERS [async]
Prints one JSON line with the result's stop reason and metric calls.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gepakit
from gepakit.lm import resolve_lm, user_message


def main() -> None:
    url, run_dir, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lm = resolve_lm("m", role="task", api_base=url, timeout=60.0)

    def evaluate(candidate: dict[str, str], example: dict[str, Any]) -> float:
        lm.complete(user_message(candidate["instruction"] + example["q"]))
        return 0.0

    async def aevaluate(candidate: dict[str, str], example: dict[str, Any]) -> float:
        await lm.acomplete(user_message(candidate["instruction"] + example["q"]))
        return 0.0

    result = gepakit.optimize(
        {"instruction": "Answer."},
        [{"id": f"t{i}", "q": str(i)} for i in range(4)],
        [{"id": f"v{i}", "q": str(i)} for i in range(8)],
        evaluator=aevaluate if sys.argv[4:] == ["async"] else evaluate,
        reflection_lm=lambda prompt: "```\nAnswer well.\n```",
        max_metric_calls=100,
        workers=workers,
        run_dir=run_dir,
        progress=False,
    )
    print(json.dumps({"stop_reason": result.stop_reason, "calls": result.total_metric_calls}))


if __name__ == "__main__":
    main()
