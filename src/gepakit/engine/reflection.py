"""Reflective datasets and proposers: from rollouts with feedback to new component text."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gepakit.engine.parsing import IDENTICAL, ParsedReply, parse_reply
from gepakit.engine.prompts import (
    DEFAULT_TEMPLATE,
    EXTEND_TEMPLATE,
    HINTS_HEADER,
    REJECTED_HEADER,
)
from gepakit.engine.tidy import line_key, sentences, tidy_proposal
from gepakit.types import Rollout

ReflectiveRecord = dict[str, Any]
"""One example shown to the reflection LM: keys "Inputs", "Generated Outputs", "Feedback"."""

ReflectiveDataset = dict[str, list[ReflectiveRecord]]
"""Component name -> its reflective records."""


def default_feedback(rollout: Rollout) -> str:
    """Feedback text for a rollout whose evaluator gave none."""
    if rollout.error:
        return f"The system failed with an error: {rollout.error}"
    return f"This answer scored {rollout.score:g}."


def build_reflective_dataset(
    rollouts: Sequence[Rollout],
    examples: Sequence[Any],
    components: Sequence[str],
) -> ReflectiveDataset:
    """Turn rollouts into per-component records for the reflection LM.

    When a rollout's trace is a mapping with an entry for a component (a dict with
    "inputs"/"outputs"/"feedback", or a list of them), those become the component's
    records. Otherwise each component sees the whole example, the output and the
    feedback.
    """
    dataset: ReflectiveDataset = {name: [] for name in components}
    for rollout, example in zip(rollouts, examples, strict=True):
        feedback = rollout.feedback or default_feedback(rollout)
        trace = rollout.trace if isinstance(rollout.trace, Mapping) else {}
        for name in components:
            entry = trace.get(name)
            if entry is None:
                dataset[name].append(
                    {"Inputs": example, "Generated Outputs": rollout.output, "Feedback": feedback}
                )
                continue
            for item in entry if isinstance(entry, list) else [entry]:
                item_map: Mapping[str, Any] = item if isinstance(item, Mapping) else {}
                dataset[name].append(
                    {
                        "Inputs": item_map.get("inputs", example),
                        "Generated Outputs": item_map.get("outputs", rollout.output),
                        "Feedback": item_map.get("feedback") or feedback,
                    }
                )
    return dataset


@dataclass(frozen=True, slots=True, kw_only=True)
class ReflectionRequest:
    """Everything a proposer gets for one proposal."""

    candidate: Mapping[str, str]
    reflective_dataset: ReflectiveDataset
    components: tuple[str, ...]
    rejected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    known: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Component -> its texts in the candidates already in the pool."""
    rollouts: tuple[Rollout, ...] = ()
    """The parent's rollouts on the minibatch, in order (outputs, scores, traces)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposerReply:
    """New texts per component, with the prompts and raw replies and why others failed."""

    texts: Mapping[str, str]
    prompts: Mapping[str, str] = field(default_factory=dict)
    replies: Mapping[str, str] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": dict(self.texts),
            "prompts": dict(self.prompts),
            "replies": dict(self.replies),
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProposerReply:
        return cls(
            texts=dict(d.get("texts", {})),
            prompts=dict(d.get("prompts", {})),
            replies=dict(d.get("replies", {})),
            reasons=dict(d.get("reasons", {})),
        )


class Proposer(Protocol):
    """Writes new text for some components. May be called from several threads at once.

    Raise any exception to fail the proposal; it is recorded and the run goes on.
    """

    def propose(self, request: ReflectionRequest) -> ProposerReply: ...


def _render(value: Any, limit: int) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr, indent=None)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


def format_examples(records: Sequence[ReflectiveRecord], *, field_limit: int = 1500) -> str:
    """Render reflective records as numbered plain-text blocks."""
    parts = []
    for i, rec in enumerate(records, 1):
        lines = [f"Example {i}"]
        for key in ("Inputs", "Generated Outputs", "Feedback"):
            lines.append(f"{key}: {_render(rec.get(key), field_limit)}")
        extra = [k for k in rec if k not in ("Inputs", "Generated Outputs", "Feedback")]
        lines.extend(f"{k}: {_render(rec[k], field_limit)}" for k in extra)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


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


_RECORD_LINE = re.compile(
    r"^[\s*#>-]*(generated outputs?|feedback)\**\s*:", re.IGNORECASE | re.MULTILINE
)


def copies_records(text: str) -> bool:
    """True when `text` has "Generated Output(s):" or "Feedback:" lines.

    Those are the field names `format_examples` shows the reflection LM; a small model
    sometimes pastes the examples into the new instructions, which then teaches the
    task model to echo them.
    """
    return _RECORD_LINE.search(text) is not None


class ReflectiveProposer:
    """The built-in proposer: one reflection prompt per component, reply parsed robustly.

    Args:
        prompt_fn: sends a prompt to the reflection LM and returns its reply text.
        templates: a template for every component, or a mapping component -> template
            (missing components use the default). Placeholders: {component},
            {current_text}, {examples}, {rejected}, {format_hints}.
        max_rejected_shown: how many earlier rejected texts to list per component.
        share_feedback: fill {format_hints} with the feedback sentences that every
            example shares (see `shared_feedback`), shown once instead of per example.
        extend_template: when a reply hands the current text back unchanged, ask once
            more with this template for sentences to append (same placeholders);
            None turns the second try off.
    """

    def __init__(
        self,
        prompt_fn: Callable[[str], str],
        *,
        templates: str | Mapping[str, str] | None = None,
        max_rejected_shown: int = 3,
        share_feedback: bool = True,
        extend_template: str | None = EXTEND_TEMPLATE,
    ) -> None:
        self.prompt_fn = prompt_fn
        self.extend_template = extend_template
        self.templates = templates
        self.max_rejected_shown = max_rejected_shown
        self.share_feedback = share_feedback

    def template_for(self, component: str) -> str:
        if isinstance(self.templates, str):
            return self.templates
        if isinstance(self.templates, Mapping):
            return self.templates.get(component, DEFAULT_TEMPLATE)
        return DEFAULT_TEMPLATE

    def build_prompt(
        self, request: ReflectionRequest, component: str, template: str | None = None
    ) -> str:
        """The reflection prompt for `component`: `template` or its own template, filled."""
        rejected = request.rejected.get(component, ())[-self.max_rejected_shown :]
        rejected_block = ""
        if rejected:
            shown = "\n".join(f"- {_render(t, 400)}" for t in rejected)
            rejected_block = REJECTED_HEADER + shown + "\n"
        template = template if template is not None else self.template_for(component)
        records = request.reflective_dataset.get(component, [])
        # A template without {format_hints} keeps the shared sentences in each example.
        share = self.share_feedback and "{format_hints}" in template
        shared = shared_feedback(records) if share else ()
        hints = HINTS_HEADER + " ".join(shared) + "\n" if shared else ""
        return template.format(
            component=component,
            current_text=request.candidate[component],
            examples=format_examples(without_shared_feedback(records, shared)),
            rejected=rejected_block,
            format_hints=hints,
        )

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        texts: dict[str, str] = {}
        prompts: dict[str, str] = {}
        replies: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for name in request.components:
            prompt = self.build_prompt(request, name)
            template = self.template_for(name)
            prompts[name] = prompt
            reply = self.prompt_fn(prompt)
            parsed = _parse_and_tidy(reply, request.candidate[name], template)
            current = request.candidate[name]
            unchanged = parsed.reason == IDENTICAL
            minor = parsed.text is not None and is_minor_edit(parsed.text, current)
            # A reply may also hand back an older candidate's text (often the parent's
            # parent): the engine would reject it as a duplicate.
            repeat = parsed.text is not None and parsed.text in request.known.get(name, ())
            if (unchanged or minor or repeat) and self.extend_template is not None:
                # Deterministic small models often hand the current text back, as it is
                # or with a word or two changed; asked only for rules to add, they write
                # rules for the mistakes. Cheaper than a proposal step that goes nowhere.
                base = parsed.text if parsed.text is not None and not repeat else current
                first_prompt, first_reply = prompt, reply
                prompt = self.build_prompt(request, name, self.extend_template)
                reply = self.prompt_fn(prompt)
                added = _parse_additions(reply, base, self.extend_template)
                if added.text is not None:
                    parsed = added
                elif unchanged:
                    parsed = ParsedReply(None, f"{IDENTICAL}; a second try added nothing")
                else:  # keep the small edit of the first reply
                    prompt, reply = first_prompt, first_reply
                prompts[name] = prompt
            replies[name] = reply
            if parsed.text is None:
                reasons[name] = parsed.reason
            elif copies_records(parsed.text) and not copies_records(request.candidate[name]):
                reasons[name] = "the text copies the examples (output or feedback lines)"
            else:
                texts[name] = parsed.text
        return ProposerReply(texts=texts, prompts=prompts, replies=replies, reasons=reasons)


def _parse_and_tidy(reply: str, current_text: str, template: str) -> ParsedReply:
    """`parse_reply`, then `tidy_proposal` against the template the reply answered."""
    parsed = parse_reply(reply, current_text)
    if parsed.text is None:
        return parsed
    text = tidy_proposal(parsed.text, template)
    if not text:
        return ParsedReply(None, "nothing left after removing echoes of the reflection prompt")
    if text == current_text.strip():
        return ParsedReply(None, IDENTICAL)
    return ParsedReply(text)


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


def _parse_additions(reply: str, current_text: str, template: str) -> ParsedReply:
    """The current text with the new sentences of `reply` appended (see EXTEND_TEMPLATE)."""
    parsed = parse_reply(reply, current_text)
    if parsed.text is None:
        return parsed
    present = {line_key(line) for line in current_text.splitlines()}
    added = [
        line
        for line in tidy_proposal(parsed.text, template).splitlines()
        if line.strip() and line_key(line) not in present
    ]
    if not added:
        return ParsedReply(None, IDENTICAL)
    return ParsedReply(current_text.rstrip() + "\n" + "\n".join(added))


class CallableProposer:
    """Adapts ``fn(candidate, reflective_dataset, components) -> dict[str, str]``.

    This is the signature of GEPA/DSPy instruction proposers.
    """

    def __init__(self, fn: Callable[..., Mapping[str, str]]) -> None:
        self.fn = fn

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        out = self.fn(dict(request.candidate), request.reflective_dataset, list(request.components))
        if not isinstance(out, Mapping):
            raise TypeError(
                f"instruction_proposer must return a dict of component -> text, got "
                f"{type(out).__name__}"
            )
        texts: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for name, text in out.items():
            if name not in request.candidate:
                reasons[str(name)] = "proposer returned an unknown component"
            elif not isinstance(text, str) or not text.strip():
                reasons[name] = "proposer returned empty or non-string text"
            elif text.strip() == request.candidate[name].strip():
                reasons[name] = "proposed text is identical to the current text"
            else:
                texts[name] = text
        return ProposerReply(texts=texts, reasons=reasons)
