"""The built-in reflection prompt (our own wording).

Placeholders: {component}, {current_text}, {examples}, {rejected}, {format_hints}.
Keep it short and concrete: small local models follow short prompts far better.
The demo engineer may tune this text; keep the placeholders.
"""

from __future__ import annotations

DEFAULT_TEMPLATE = """You are improving the instructions that a small AI assistant follows.
The instructions are called "{component}". Here they are now:

```
{current_text}
```

The assistant followed these instructions on the inputs below. Each example shows the input,
the assistant's answer and feedback on that answer.

{examples}
{format_hints}{rejected}
Now write better instructions. They must work on their own for new inputs, because the
assistant never sees these examples or this feedback. State the task in one sentence, then
the exact reply format, and copy the list of allowed answers if the feedback gives one; the
assistant must never answer anything outside that list. For each mistake above, add one
short general rule: "If the input ..., answer ...". Do not copy the examples. Write plain
sentences, not JSON and not Markdown headings. Use at most 150 words.

Reply with the new instructions inside one ``` block and nothing else."""
# Why this wording (measured with the 1.5B local model on the demo task): without
# "never sees these examples" and "do not copy the examples" it pasted the examples,
# outputs and feedback into the new instructions, which the task model then imitated;
# the "If the input ..., answer ..." form makes it write rules that separate labels;
# the word limit keeps replies short (fewer loops, faster reflections); "not JSON and not
# Markdown headings" because it often answered with a JSON "spec" or "## Task" sections;
# "never answer anything outside that list" against invented fallbacks ("Unknown").
# {format_hints} is the feedback every example shares (e.g. the allowed labels), shown
# once after the examples (see `gepakit.engine.reflection.shared_feedback`).
# gepakit.testing.parse_reflection_prompt reads the 'The instructions are called "..."'
# line, the first fence and "- " lines after REJECTED_HEADER: keep the template free of
# "- " bullets.

HINTS_HEADER = "\nThe feedback on every example says: "
"""Starts the {format_hints} line: feedback sentences that all examples share."""

REJECTED_HEADER = (
    "\nThese versions were already tried and did not do better; write something different:\n"
)
