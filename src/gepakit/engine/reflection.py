"""Reflective datasets and proposers: from rollouts with feedback to new component text."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gepakit.engine.images import as_parts, as_text, extract_images
from gepakit.engine.parsing import ParsedReply, parse_reply
from gepakit.engine.prompts import DEFAULT_TEMPLATE, LENGTH_BUDGET, REJECTED_HEADER
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


PromptFn = Callable[[Any], Any]
"""Sends one reflection prompt and returns the reply.

Called with the prompt text; returns the reply text, or an object with ``text`` (and
``finish_reason``, e.g. a `gepakit.lm.Completion`) so that a reply cut off by the
token limit can be told apart. A function with ``accepts_images = True`` is called
with a list of OpenAI-style content parts instead when the examples hold images.
"""


def _render(value: Any, limit: int) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr, indent=None)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


RECORD_FIELDS = ("Inputs", "Generated Outputs", "Feedback")


def format_examples(
    records: Sequence[ReflectiveRecord],
    *,
    field_limit: int = 1500,
    images: list[str] | None = None,
) -> str:
    """Render reflective records as numbered plain-text blocks.

    With `images`, image values (see `gepakit.engine.images`) become markers in the
    text and their URLs are appended to `images`; without it they are rendered as
    ``[image N: ...]`` placeholders.
    """
    found: list[str] = [] if images is None else images
    parts = []
    for i, rec in enumerate(records, 1):
        lines = [f"Example {i}"]
        keys = [*RECORD_FIELDS, *(k for k in rec if k not in RECORD_FIELDS)]
        for key in keys:
            if key in RECORD_FIELDS or key in rec:
                value = extract_images(rec.get(key), found)
                lines.append(f"{key}: {_render(value, field_limit)}")
        parts.append("\n".join(lines))
    text = "\n\n".join(parts)
    return as_text(text, found) if images is None else text


def reply_text(reply: Any) -> tuple[str, str | None]:
    """The text and finish reason of a prompt function's reply (see `PromptFn`)."""
    if isinstance(reply, str):
        return str(reply), getattr(reply, "finish_reason", None)
    text = getattr(reply, "text", None)
    if isinstance(text, str):
        reason = getattr(reply, "finish_reason", None)
        return text, reason if isinstance(reason, str) else None
    raise TypeError(
        f"the reflection LM returned {type(reply).__name__}; return a str or an object "
        "with .text (and .finish_reason)"
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One component's proposal: the prompt sent, the reply, the new text or a reason."""

    prompt: str
    reply: str
    parsed: ParsedReply


def proposer_reply(attempts: Mapping[str, Attempt]) -> ProposerReply:
    """The reply of a proposer that made one attempt per component (in that order): the
    new texts, every prompt and reply, and why the other components got no text."""
    return ProposerReply(
        texts={n: a.parsed.text for n, a in attempts.items() if a.parsed.text is not None},
        prompts={n: a.prompt for n, a in attempts.items()},
        replies={n: a.reply for n, a in attempts.items()},
        reasons={n: a.parsed.reason for n, a in attempts.items() if a.parsed.text is None},
    )


class ReflectiveProposer:
    """The general proposer: one reflection prompt per component, reply parsed robustly.

    This is the "general" reflection profile, meant for capable reflection models: the
    prompt (`gepakit.engine.prompts.DEFAULT_TEMPLATE`) asks for complete, self-contained
    instructions and imposes no shape and no length; the reply is used as parsed (a
    fenced block, reasoning removed), never rewritten. Sampling params are whatever
    `prompt_fn` uses (the LM's own settings). The compact profile for small models is
    `gepakit.engine.profiles.compact.CompactProposer`.

    Args:
        prompt_fn: sends a prompt to the reflection LM and returns its reply (see
            `PromptFn`).
        templates: a template for every component, or a mapping component -> template
            (missing components use the default). Placeholders:
            `gepakit.engine.prompts.TEMPLATE_PLACEHOLDERS`.
        max_rejected_shown: how many earlier rejected texts to list per component.
        max_text_chars: a length budget for new texts: stated in the prompt's
            {length_budget} and enforced (a longer text is rejected, not cut).
        field_limit: characters shown of each input, output and feedback.
    """

    default_template: str = DEFAULT_TEMPLATE
    default_field_limit: int = 5000

    def __init__(
        self,
        prompt_fn: PromptFn,
        *,
        templates: str | Mapping[str, str] | None = None,
        max_rejected_shown: int = 3,
        max_text_chars: int | None = None,
        field_limit: int | None = None,
    ) -> None:
        self.prompt_fn = prompt_fn
        self.templates = templates
        self.max_rejected_shown = max_rejected_shown
        self.max_text_chars = max_text_chars
        self.field_limit = self.default_field_limit if field_limit is None else field_limit

    def template_for(self, component: str) -> str:
        if isinstance(self.templates, str):
            return self.templates
        if isinstance(self.templates, Mapping):
            return self.templates.get(component, self.default_template)
        return self.default_template

    def prompt_values(
        self, request: ReflectionRequest, component: str, template: str, images: list[str]
    ) -> dict[str, str]:
        """The values of a template's placeholders for `component`."""
        rejected = request.rejected.get(component, ())[-self.max_rejected_shown :]
        rejected_block = ""
        if rejected:
            shown = "\n".join(f"- {_render(t, 400)}" for t in rejected)
            rejected_block = REJECTED_HEADER + shown + "\n"
        budget = ""
        if self.max_text_chars is not None:
            budget = LENGTH_BUDGET.format(max_text_chars=self.max_text_chars)
        records = request.reflective_dataset.get(component, [])
        return {
            "component": component,
            "current_text": request.candidate[component],
            "examples": format_examples(records, field_limit=self.field_limit, images=images),
            "rejected": rejected_block,
            "format_hints": "",
            "length_budget": budget,
        }

    def render(
        self, request: ReflectionRequest, component: str, template: str | None = None
    ) -> tuple[str, list[str]]:
        """The filled template (with image markers) and the image URLs it refers to."""
        template = template if template is not None else self.template_for(component)
        images: list[str] = []
        values = self.prompt_values(request, component, template, images)
        return template.format(**values), images

    def build_prompt(
        self, request: ReflectionRequest, component: str, template: str | None = None
    ) -> str:
        """The reflection prompt for `component` as text (images as placeholders)."""
        text, images = self.render(request, component, template)
        return as_text(text, images)

    def ask(self, text: str, images: Sequence[str]) -> tuple[str, str | None]:
        """Send a rendered prompt: as content parts when it has images and the LM takes
        them, else as text. Returns the reply text and its finish reason."""
        if images and getattr(self.prompt_fn, "accepts_images", False) is True:
            return reply_text(self.prompt_fn(as_parts(text, images)))
        return reply_text(self.prompt_fn(as_text(text, images)))

    def attempt(
        self, request: ReflectionRequest, component: str, template: str | None = None
    ) -> Attempt:
        """Build the prompt, ask the LM once and parse the reply."""
        text, images = self.render(request, component, template)
        reply, finish_reason = self.ask(text, images)
        parsed = parse_reply(reply, request.candidate[component], finish_reason=finish_reason)
        return Attempt(as_text(text, images), reply, parsed)

    def propose_component(self, request: ReflectionRequest, component: str) -> Attempt:
        """One component's proposal. Profiles override this."""
        return self.attempt(request, component)

    def within_budget(self, parsed: ParsedReply) -> ParsedReply:
        """`parsed`, or a rejection when its text is longer than `max_text_chars`."""
        limit = self.max_text_chars
        if parsed.text is None or limit is None or len(parsed.text) <= limit:
            return parsed
        return ParsedReply(
            None, f"the text has {len(parsed.text)} characters, over max_text_chars={limit}"
        )

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        attempts: dict[str, Attempt] = {}
        for name in request.components:
            outcome = self.propose_component(request, name)
            attempts[name] = replace(outcome, parsed=self.within_budget(outcome.parsed))
        return proposer_reply(attempts)


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
