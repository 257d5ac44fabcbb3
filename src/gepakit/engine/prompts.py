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
Write better instructions. The assistant will never see these examples or this feedback, so
the instructions must say everything it needs. Use this shape, filling in each part:

```
<the task, in one sentence>
<what the answer must look like; if the feedback lists the allowed answers, copy the whole list and say to answer with exactly one of them and nothing else>
If the input <describes a kind of input in general words>, answer <the right answer>.
If the input <another kind of input>, answer <its answer>.
```

Write one "If the input ..." rule for each mistake above, in general words, not the example
itself. Plain sentences only, at most 150 words. Reply with the instructions inside one ```
block and nothing else."""
# Why this wording (measured with the 1.5B local model on the demo task, 12 first
# reflections on the seed prompt, each scored on 30 val examples; benchmarks/reflection_prompt.py):
# a fenced shape to fill in raised the mean val accuracy of the proposals from 0.17 (a
# prose-only request) to 0.53. Prose requests got Markdown "**Task:**" sections, JSON
# "specs", pasted examples and invented fallback answers ("unknown"); a shape labelled
# "Task: ... / Answer: ..." was worse still (the model wrote an answer after "Answer:").
# Small models copy the shape literally, sometimes keeping the <...> brackets or a
# placeholder line: `gepakit.engine.tidy` removes those echoes from the reply.
# "never sees these examples" and "not the example itself" keep it from pasting the
# examples, outputs and feedback into the instructions, which the task model imitates.
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

EXTEND_TEMPLATE = """An AI assistant answered the inputs below. Each example shows the input,
the assistant's answer and feedback on that answer.

{examples}
{format_hints}
For each input that the assistant got wrong, write one rule that would have given the right
answer, as: If the input <a kind of input, in general words>, answer <the right answer>.
Describe the kind of input without the names, titles, places or numbers it contains, so that
the rule also fits other inputs of that kind. Reply with only the rules, one per line."""
"""The second try of a proposal whose first reply handed the current text back unchanged.

The rules in the reply are appended to the current text. The current text is left
out on purpose: shown it, the 1.5B local model copied it again (or answered with a
lone fence, or with JSON when asked for a fenced block); shown only the mistakes, it
wrote rules for them. The sentence on names, titles, places and numbers is there
because its rules otherwise quoted training utterances ("a song by Sarah Harding");
it still does sometimes. Placeholders as in `DEFAULT_TEMPLATE`; {current_text} and
{rejected} are available but unused.
"""

SECOND_TRY_MARK = "An AI assistant answered the inputs below."
"""How `gepakit.testing` recognizes a second-try prompt built from `EXTEND_TEMPLATE`."""
