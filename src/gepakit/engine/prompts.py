"""The general reflection prompt (our own wording), for capable reflection models.

Placeholders: {component}, {current_text}, {examples}, {rejected}, {length_budget}
(and {format_hints}, filled only by the compact profile). The small-model prompt and
its second try live in `gepakit.engine.profiles.compact`.
"""

from __future__ import annotations

TEMPLATE_PLACEHOLDERS = frozenset(
    {"component", "current_text", "examples", "rejected", "format_hints", "length_budget"}
)
"""The names a reflection template may use; any other ``{name}`` is an error."""

DEFAULT_TEMPLATE = """You are revising the instructions that steer an AI system (or one part of it). The instructions are called "{component}". This is the current version:

```
{current_text}
```

The system was run with this text on the inputs below. Each example shows what the system was given, what it produced, and feedback on the result.

{examples}
{rejected}
Write an improved version of "{component}". To do that:
1. Work out from the examples what the task is and what its inputs look like: their parts, their format, the range of cases they cover.
2. Gather what the feedback reveals: facts about the domain, requirements and constraints the output must meet, and approaches that worked or failed. Keep whatever the current text already gets right.
3. Make the new text complete and self-contained. Whoever follows it will never see these examples or this feedback, so it must state every fact, rule and format requirement they need, in terms that carry over to new inputs rather than to these examples alone.
{length_budget}
Reply with the complete new text inside one ``` block; anything outside the block is ignored."""
# Written for strong reflection models: no answer shape and no word limit are imposed,
# since the right form depends on the task (a classification rule list, a step-by-step
# method for math, an extraction schema, an agent's tool policy). `gepakit.testing`'s
# parse_reflection_prompt reads the 'The instructions are called "..."' line, the first
# fence and "- " lines after REJECTED_HEADER: the steps are numbered, not "- " bullets.

LENGTH_BUDGET = "4. Keep the new text under {max_text_chars} characters.\n"
"""Fills {length_budget} when `max_text_chars` is set (a longer text is rejected)."""

REJECTED_HEADER = (
    "\nThese versions were already tried and did not do better; write something different:\n"
)
