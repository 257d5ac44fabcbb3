"""The compact reflection profile: the prompt and reply handling tuned for small models.

Chosen by ``reflection_style="compact"``, and by ``"auto"`` for the embedded
``local/...`` models. Measured with the 1.5B local reflection model on the demo task
(intent classification), where each piece below raised the score (see the notes at
each constant). What it does on top of the general profile
(`gepakit.engine.reflection.ReflectiveProposer`):

- the prompt (`COMPACT_TEMPLATE`) shows a fenced shape to fill in, asks for
  "If the input ..., answer ..." rules and at most 150 words; when the examples'
  answers are structured (`structured_answers`: JSON, several fields, worked
  solutions), `COMPACT_FORMAT_TEMPLATE` asks for the task, the exact answer form and
  general rules instead, and the second try uses `EXTEND_FORMAT_TEMPLATE`;
- feedback sentences every example shares (e.g. the allowed labels) are shown once
  (`shared_feedback`, the {format_hints} placeholder);
- the reply is tidied (`gepakit.engine.tidy`): echoes of *this* template are removed
  (kept brackets, copied shape lines, repeated rules), nothing the current text holds;
- a reply that hands back the current text, changes only a word or two
  (`is_minor_edit`) or repeats an older candidate gets a second try
  (`EXTEND_TEMPLATE`) whose rules are appended to the text;
- a text that pastes the examples' output or feedback lines is rejected
  (`copies_records`).

Replies are parsed as in the general profile (`gepakit.engine.parsing`): a reply cut
off by the token limit is rejected unless its fenced block closed before the cut.
Images in the examples reach the LM as placeholders unless it takes image parts (the
embedded local models do not).

Defaults: examples are cut at 1500 characters per field; sampling params are the
LM's own (the embedded local models sample at temperature 0, which helped on the
demo); user settings (``reflection_lm_kwargs``, params on the LM) win.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from gepakit.engine.parsing import IDENTICAL, ParsedReply
from gepakit.engine.reflection import (
    Attempt,
    PromptFn,
    ReflectionRequest,
    ReflectiveProposer,
    ReflectiveRecord,
    format_examples,
)
from gepakit.engine.tidy import line_key, sentences, tidy_proposal

__all__ = [
    "COMPACT_FORMAT_TEMPLATE",
    "COMPACT_TEMPLATE",
    "EXTEND_FORMAT_TEMPLATE",
    "EXTEND_TEMPLATE",
    "HINTS_HEADER",
    "SECOND_TRY_MARK",
    "CompactProposer",
    "copies_records",
    "is_minor_edit",
    "shared_feedback",
    "structured_answers",
    "without_shared_feedback",
]

_COMPACT_HEAD = """You are improving the instructions that a small AI assistant follows.
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
"""
"""What both compact shapes say before their fenced shape."""

COMPACT_TEMPLATE = (
    _COMPACT_HEAD
    + """
```
<the task, in one sentence>
<what the answer must look like; if the feedback lists the allowed answers, copy the whole list and say to answer with exactly one of them and nothing else>
If the input <describes a kind of input in general words>, answer <the right answer>.
If the input <another kind of input>, answer <its answer>.
```

Write one "If the input ..." rule for each mistake above, in general words, not the example
itself. Plain sentences only, at most 150 words. Reply with the instructions inside one ```
block and nothing else."""
)
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
# once after the examples (see `shared_feedback` below).
# gepakit.testing.parse_reflection_prompt reads the 'The instructions are called "..."'
# line, the first fence and "- " lines after REJECTED_HEADER: keep the template free of
# "- " bullets.

COMPACT_FORMAT_TEMPLATE = (
    _COMPACT_HEAD
    + """
```
<the task, in one sentence>
<the exact form of the answer, naming every field, key or allowed value that the feedback names>
<one rule for each kind of mistake above, in general words>
```

Write the rules in general words, not about the examples themselves. Plain sentences only,
at most 150 words. Reply with the instructions inside one ``` block and nothing else."""
)
# The shape of COMPACT_TEMPLATE for answers that are not short labels (JSON objects,
# worked solutions, several lines): its "If the input ..., answer <the right answer>"
# rules made the 1.5B model paste whole JSON answers into rules, one per kind of input,
# until the reply ran past its token limit (restaurant_json in
# benchmarks/quality_tasks.py, 2026-12-02: 13 of 15 replies left nothing after tidying).

HINTS_HEADER = "\nThe feedback on every example says: "
"""Starts the {format_hints} line: feedback sentences that all examples share."""

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
it still does sometimes. Placeholders as in `COMPACT_TEMPLATE`; {current_text} and
{rejected} are available but unused.
"""

EXTEND_FORMAT_TEMPLATE = """An AI assistant answered the inputs below. Each example shows the input,
the assistant's answer and feedback on that answer.

{examples}
{format_hints}
For each mistake that the feedback names, write one rule that would have avoided it. Write
the rules in general words, without the names, titles, places or numbers of these inputs,
so that they also fit other inputs. Reply with only the rules, one per line."""
"""The second try of `COMPACT_FORMAT_TEMPLATE` (see `EXTEND_TEMPLATE`)."""

STRUCTURED_MIN_LINES = 3
"""Answers with this many non-empty lines or more count as structured (see `structured_answers`)."""


def _structured(output: object) -> bool:
    if isinstance(output, Mapping):
        values = list(output.values())  # pyright: ignore[reportUnknownArgumentType]
        return len(values) != 1 or _structured(values[0])
    if isinstance(output, list | tuple):
        return True
    text = str(output).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return text[:1] in ("{", "[") or len(lines) >= STRUCTURED_MIN_LINES


def structured_answers(records: Sequence[ReflectiveRecord]) -> bool:
    """Whether some record's output is structured: a JSON object or list, several output
    fields, or an answer of `STRUCTURED_MIN_LINES` lines or more (a worked solution).

    The compact profile asks for "If the input ..., answer ..." rules (`COMPACT_TEMPLATE`)
    unless so; structured answers get `COMPACT_FORMAT_TEMPLATE`. A one-line sentence is
    not structured: a label task's seed prompt often gets sentences instead of labels,
    and the rule shape is what teaches it the labels (the demo's first proposal).
    """
    return any(_structured(rec.get("Generated Outputs")) for rec in records)


SECOND_TRY_MARK = "An AI assistant answered the inputs below."
"""How `gepakit.testing` recognizes a second-try prompt built from `EXTEND_TEMPLATE`."""


def shared_feedback(records: Sequence[ReflectiveRecord]) -> tuple[str, ...]:
    """Sentences of 4+ words that occur in the feedback of every record, in order.

    Evaluators often repeat a requirement (the allowed answers, the reply format) in
    every feedback; shown once, it reads as a requirement rather than noise. Needs at
    least two records with string feedback, and every record must keep some feedback
    of its own after the shared sentences are removed; otherwise returns ().
    """
    feedbacks = [rec.get("Feedback") for rec in records]
    if len(feedbacks) < 2 or not all(isinstance(f, str) for f in feedbacks):
        return ()
    split = [sentences(f) for f in feedbacks if isinstance(f, str)]
    common = {s for s in set(split[0]).intersection(*map(set, split[1:])) if len(s.split()) >= 4}
    if not common or any(set(sentences) <= common for sentences in split):
        return ()
    return tuple(dict.fromkeys(s for s in split[0] if s in common))


def without_shared_feedback(
    records: Sequence[ReflectiveRecord], shared: Sequence[str]
) -> list[ReflectiveRecord]:
    """Copies of `records` whose feedback leaves out the `shared` sentences."""
    if not shared:
        return list(records)
    drop = set(shared)
    out: list[ReflectiveRecord] = []
    for rec in records:
        feedback = rec.get("Feedback")
        if isinstance(feedback, str):
            kept = " ".join(s for s in sentences(feedback) if s not in drop)
            rec = {**rec, "Feedback": kept}
        out.append(rec)
    return out


# [ \t*#>-]* (not [\s*#>-]*): under MULTILINE, \s would run across every following
# blank line from every line start, quadratic in the number of blank lines.
_RECORD_LINE = re.compile(
    r"^[ \t*#>-]*(generated outputs?|feedback)\**[ \t]*:", re.IGNORECASE | re.MULTILINE
)


def copies_records(text: str) -> bool:
    """True when `text` has "Generated Output(s):" or "Feedback:" lines.

    Those are the field names `format_examples` shows the reflection LM; a small model
    sometimes pastes the examples into the new instructions, which then teaches the
    task model to echo them.
    """
    return _RECORD_LINE.search(text) is not None


MINOR_EDIT_SIMILARITY = 0.95
"""Word-sequence similarity (difflib ratio) above which a new text is a minor edit."""


def is_minor_edit(text: str, current_text: str) -> bool:
    """True when `text` is `current_text` with at most a few words changed.

    Measured on the demo task: after a good prompt was found, most replies of the 1.5B
    reflection model rewrote it with one or two words dropped, which never scored
    better; those replies get the second try that asks for rules to add.
    """
    new, old = text.split(), current_text.split()
    if not old or new == old:
        return False
    return difflib.SequenceMatcher(a=old, b=new, autojunk=False).ratio() >= MINOR_EDIT_SIMILARITY


class CompactProposer(ReflectiveProposer):
    """The compact profile's proposer (see the module docstring).

    Args:
        prompt_fn, templates, max_rejected_shown, max_text_chars, field_limit: as for
            `ReflectiveProposer` (the default template is `COMPACT_TEMPLATE`).
        share_feedback: fill {format_hints} with the feedback sentences that every
            example shares (see `shared_feedback`), shown once instead of per example.
        extend_template: when a reply hands the current text back unchanged, ask once
            more with this template for sentences to append (same placeholders);
            None turns the second try off.
    """

    default_template = COMPACT_TEMPLATE
    default_field_limit = 1500

    def __init__(
        self,
        prompt_fn: PromptFn,
        *,
        templates: str | Mapping[str, str] | None = None,
        max_rejected_shown: int = 3,
        max_text_chars: int | None = None,
        field_limit: int | None = None,
        share_feedback: bool = True,
        extend_template: str | None = EXTEND_TEMPLATE,
    ) -> None:
        super().__init__(
            prompt_fn,
            templates=templates,
            max_rejected_shown=max_rejected_shown,
            max_text_chars=max_text_chars,
            field_limit=field_limit,
        )
        self.share_feedback = share_feedback
        self.extend_template = extend_template

    def prompt_values(
        self, request: ReflectionRequest, component: str, template: str, images: list[str]
    ) -> dict[str, str]:
        values = super().prompt_values(request, component, template, images)
        records = request.reflective_dataset.get(component, [])
        # A template without {format_hints} keeps the shared sentences in each example.
        share = self.share_feedback and "{format_hints}" in template
        shared = shared_feedback(records) if share else ()
        if shared:
            values["examples"] = format_examples(
                without_shared_feedback(records, shared),
                field_limit=self.field_limit,
                images=images,
            )
            values["format_hints"] = HINTS_HEADER + " ".join(shared) + "\n"
        return values

    def _tidied(self, attempt: Attempt, current: str, template: str) -> ParsedReply:
        parsed = attempt.parsed
        if parsed.text is None:
            return parsed
        text = tidy_proposal(parsed.text, template, current)
        if not text:
            return ParsedReply(None, "nothing left after removing echoes of the reflection prompt")
        if text == current.strip():
            return ParsedReply(None, IDENTICAL)
        return ParsedReply(text)

    def templates_for(self, request: ReflectionRequest, component: str) -> tuple[str, str | None]:
        """The (first, second-try) templates for `component` on this request.

        With the default templates, structured answers (see `structured_answers`) get
        `COMPACT_FORMAT_TEMPLATE` and `EXTEND_FORMAT_TEMPLATE`.
        Templates given by the user are used as they are.
        """
        template = self.template_for(component)
        extend = self.extend_template
        if not structured_answers(request.reflective_dataset.get(component, [])):
            return template, extend
        if template == COMPACT_TEMPLATE:
            template = COMPACT_FORMAT_TEMPLATE
        if extend == EXTEND_TEMPLATE:
            extend = EXTEND_FORMAT_TEMPLATE
        return template, extend

    def propose_component(self, request: ReflectionRequest, component: str) -> Attempt:
        template, extend_template = self.templates_for(request, component)
        current = request.candidate[component]
        first = self.attempt(request, component, template)
        parsed = self._tidied(first, current, template)
        chosen = first
        unchanged = parsed.reason == IDENTICAL
        minor = parsed.text is not None and is_minor_edit(parsed.text, current)
        # A reply may also hand back an older candidate's text (often the parent's
        # parent): the engine would reject it as a duplicate.
        repeat = parsed.text is not None and parsed.text in request.known.get(component, ())
        if (unchanged or minor or repeat) and extend_template is not None:
            # Deterministic small models often hand the current text back, as it is
            # or with a word or two changed; asked only for rules to add, they write
            # rules for the mistakes. Cheaper than a proposal step that goes nowhere.
            base = parsed.text if parsed.text is not None and not repeat else current
            second = self.attempt(request, component, extend_template)
            added = _additions(second.parsed, base, current, extend_template)
            if added.text is not None:
                parsed, chosen = added, second
            elif unchanged:
                parsed = ParsedReply(None, f"{IDENTICAL}; a second try added nothing")
                chosen = second
            # else: keep the small edit of the first reply
        if parsed.text is not None and copies_records(parsed.text) and not copies_records(current):
            parsed = ParsedReply(None, "the text copies the examples (output or feedback lines)")
        return Attempt(chosen.prompt, chosen.reply, parsed)


def _additions(parsed: ParsedReply, base: str, current: str, template: str) -> ParsedReply:
    """`base` with the new lines of a second-try reply appended (see EXTEND_TEMPLATE)."""
    if parsed.text is None:
        # The second reply is parsed against the current text; against `base` only
        # "identical" differs, and that means "added nothing" either way.
        return parsed
    present = {line_key(line) for line in base.splitlines()}
    added = [
        line
        for line in tidy_proposal(parsed.text, template, current).splitlines()
        if line.strip() and line_key(line) not in present
    ]
    if not added:
        return ParsedReply(None, IDENTICAL)
    return ParsedReply(base.rstrip() + "\n" + "\n".join(added))
