"""The built-in reflection prompt (our own wording).

Placeholders: {component}, {current_text}, {examples}, {rejected}, {format_hints}.
Keep it short and concrete: small local models follow short prompts far better.
The demo engineer may tune this text; keep the placeholders.
"""

from __future__ import annotations

DEFAULT_TEMPLATE = """You are improving the instructions given to an AI assistant.
The instructions are called "{component}". Here they are now:

```
{current_text}
```

The assistant ran with these instructions on the examples below. Each shows the input,
the assistant's answer and feedback on that answer.

{examples}
{format_hints}{rejected}
Write new instructions for the assistant that fix the mistakes named in the feedback and
keep what already works. Be specific: state the exact output format, list the allowed
answers if the feedback names them, and add rules for the cases that went wrong.
Reply with the new instructions only, inside one ``` block."""

REJECTED_HEADER = (
    "\nThese versions were already tried and did not do better; write something different:\n"
)
