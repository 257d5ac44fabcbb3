"""Generate `tickets.jsonl`: short customer-support messages, each routed to one team.

The messages are written from templates by this script (no outside source); the file
is released with gepakit under Apache-2.0. Run: python examples/plain_system/make_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TEAMS = {
    "billing": [
        "I was charged twice for my {plan} plan this month.",
        "Can I get a refund for the {plan} upgrade I did not use?",
        "My invoice for {month} shows the wrong VAT number.",
        "The card on file expired, how do I update it before the {month} renewal?",
    ],
    "technical": [
        "The app crashes when I open the {feature} screen.",
        "Since the update, {feature} takes forever to load.",
        "I get error 502 every time I export from {feature}.",
        "Sync between my phone and laptop stopped working for {feature}.",
    ],
    "account": [
        "I cannot log in to the {feature} workspace, the reset email never arrives.",
        "Please change the email address of my {plan} account to my work one.",
        "How do I add a second admin to our {plan} workspace?",
        "I want to delete my {plan} account and all my data from {month}.",
    ],
    "sales": [
        "We are a team of {n} people, do you offer volume pricing?",
        "Is there a discount for non-profits on the {plan} plan?",
        "Can we get a demo of {feature} for our managers?",
        "What does the enterprise contract include beyond the {plan} plan?",
    ],
}
FILL = {
    "plan": ["Pro", "Team", "Starter", "Business", "Education"],
    "month": ["March", "April", "May", "June", "October"],
    "feature": ["calendar", "reports", "file sharing", "dashboard", "invoicing"],
    "n": ["40", "120", "15", "300", "75"],
}


def main() -> None:
    rng = random.Random(0)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for team, templates in TEAMS.items():
        for k, template in enumerate(templates):
            for j in range(6):
                text = template.format(**{key: rng.choice(v) for key, v in FILL.items()})
                if text not in seen:  # templates without blanks give one message only
                    seen.add(text)
                    rows.append({"id": f"{team}-{k}-{j}", "text": text, "team": team})
    rng.shuffle(rows)
    out = Path(__file__).with_name("tickets.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} tickets to {out}")


if __name__ == "__main__":
    main()
