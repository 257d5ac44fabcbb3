"""Generate `emails.jsonl`: facility-support emails labelled with urgency, category, sentiment.

Written from templates by this script (no outside source; the task's shape follows the
facility-support case of DSPy's GEPA tutorials); released with gepakit under Apache-2.0.
Run: python examples/extraction/make_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PROBLEMS = {
    "cleaning": ["the bins on floor {f} have not been emptied", "there is a spill in the {room}"],
    "maintenance": ["the door of the {room} does not close", "a light in the {room} flickers"],
    "security": [
        "the badge reader at entrance {f} accepts any card",
        "a window in the {room} was left open overnight",
    ],
    "hvac": ["the {room} is freezing since Monday", "the air conditioning on floor {f} is loud"],
}
URGENCY = {
    "high": ["This is urgent, please send someone today.", "People cannot work, we need help now."],
    "medium": ["Could someone look at it this week?", "Please fix it in the next few days."],
    "low": ["No rush, whenever you have time.", "Just letting you know for the next round."],
}
TONE = {
    "negative": [
        "This is the third time I report it and I am frustrated.",
        "Honestly, this is not acceptable.",
    ],
    "neutral": ["Thanks.", "Regards."],
    "positive": ["Thanks a lot, your team is always quick!", "Great work on the lobby last week."],
}
ROOMS = ["kitchen", "meeting room B", "gym", "server room", "reception"]


def main() -> None:
    rng = random.Random(0)
    rows = []
    for k in range(60):
        category = rng.choice(sorted(PROBLEMS))
        urgency = rng.choice(sorted(URGENCY))
        sentiment = rng.choice(sorted(TONE))
        problem = rng.choice(PROBLEMS[category]).format(f=rng.randint(1, 6), room=rng.choice(ROOMS))
        email = (
            f"Hello facilities, {problem}. {rng.choice(URGENCY[urgency])} "
            f"{rng.choice(TONE[sentiment])}"
        )
        rows.append(
            {
                "id": f"m{k:03d}",
                "email": email,
                "urgency": urgency,
                "category": category,
                "sentiment": sentiment,
            }
        )
    out = Path(__file__).with_name("emails.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} emails to {out}")


if __name__ == "__main__":
    main()
