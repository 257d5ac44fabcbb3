"""Generate `problems.jsonl`: two- and three-step arithmetic word problems with worked solutions.

Written from templates by this script (no outside source); released with gepakit under
Apache-2.0. Run: python examples/math_cot/make_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatma", "Goran", "Hana"]
ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "stamps"]


def problem(rng: random.Random, k: int) -> dict[str, object]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    kind = k % 4
    if kind == 0:
        boxes, per, eaten = rng.randint(3, 9), rng.randint(4, 12), rng.randint(1, 9)
        answer = boxes * per - eaten
        text = (
            f"{name} buys {boxes} boxes of {item} with {per} in each box and gives away "
            f"{eaten}. How many {item} does {name} have left?"
        )
        steps = f"{boxes} x {per} = {boxes * per}; {boxes * per} - {eaten} = {answer}"
    elif kind == 1:
        start, friends, each = rng.randint(40, 90), rng.randint(2, 5), rng.randint(3, 8)
        answer = start - friends * each
        text = (
            f"{name} has {start} {item} and gives {each} to each of {friends} friends. "
            f"How many are left?"
        )
        steps = f"{friends} x {each} = {friends * each}; {start} - {friends * each} = {answer}"
    elif kind == 2:
        total, groups = rng.randint(2, 9) * 6, 6
        extra = rng.randint(2, 15)
        answer = total // groups + extra
        text = (
            f"{total} {item} are shared equally among {groups} children. Then each child "
            f"gets {extra} more. How many does each child have?"
        )
        steps = f"{total} / {groups} = {total // groups}; {total // groups} + {extra} = {answer}"
    else:
        price, count, paid = rng.randint(2, 9), rng.randint(3, 8), 100
        answer = paid - price * count
        text = (
            f"{name} buys {count} packs of {item} at {price} dollars each and pays with "
            f"{paid} dollars. How much change does {name} get, in dollars?"
        )
        steps = f"{count} x {price} = {count * price}; {paid} - {count * price} = {answer}"
    return {"id": f"p{k:03d}", "question": text, "answer": str(answer), "solution": steps}


def main() -> None:
    rng = random.Random(0)
    rows = [problem(rng, k) for k in range(60)]
    out = Path(__file__).with_name("problems.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} problems to {out}")


if __name__ == "__main__":
    main()
