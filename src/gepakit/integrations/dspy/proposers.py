"""Instruction proposers for DSPy programs: gepakit's reflection, DSPy-style callables, images."""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import dspy
from dspy.utils.usage_tracker import UsageTracker

from gepakit.engine.profiles import make_proposer, resolve_style
from gepakit.engine.reflection import (
    CallableProposer,
    Proposer,
    ProposerReply,
    ReflectionRequest,
)
from gepakit.errors import ConfigError
from gepakit.integrations.dspy.lm import DspyLM, is_local_dspy_lm, record_tracker
from gepakit.integrations.dspy.reflection import DspyInstructionProposer
from gepakit.lm.resolve import as_prompt_fn, resolve_lm
from gepakit.lm.usage import UsageLedger

log = logging.getLogger("gepakit.dspy")

ProposalFn = Callable[..., Mapping[str, str]]
"""DSPy's proposer signature: ``fn(candidate, reflective_dataset, components_to_update)``."""


def is_dspy_lm(lm: Any) -> bool:
    """Whether `lm` is a DSPy language model (``dspy.BaseLM``)."""
    return isinstance(lm, dspy.BaseLM)


def is_builtin_proposer(custom: Any) -> bool:
    """Whether proposals use a built-in proposer, which gets DSPy objects in its records.

    As in dspy.GEPA: the default proposer and DSPy's own `InstructionProposer` see the
    inputs and outputs as objects (a `dspy.History` under "Context"); any other custom
    proposer sees text, except `dspy.Type` values such as images.
    """
    if custom is None:
        return True
    try:
        from dspy.teleprompt.gepa.instruction_proposal import (  # pyright: ignore[reportAttributeAccessIssue]
            InstructionProposer,
        )
    except ImportError:  # DSPy before 3.4.1 has no built-in proposer class
        return False
    # @experimental wraps the class for type checkers; at run time it is the class
    return isinstance(custom, cast("type[Any]", InstructionProposer))


class DspyProposer:
    """The gepakit `Proposer` used by `gepakit.dspy.GEPA`.

    Components whose predictor has no reflective record in the minibatch (it did not
    run, or only produced unparseable replies) are logged and left out of the request;
    if none is left the proposal fails with that reason. Every call runs in a copy of
    the context `compile` was called in.

    Args:
        reflection_lm: a ``dspy.LM`` (used through `DspyInstructionProposer`, as
            dspy.GEPA's built-in proposer), a gepakit LM, a callable ``prompt -> reply``
            or a gepakit model spec (gepakit's own reflection); None with `custom`.
        custom: a DSPy-style proposer, called with keyword arguments inside
            ``dspy.context(lm=reflection_lm)`` as dspy.GEPA does.
        ledger: where reflection calls are counted (role "reflection").
        context: the context to run in.
        adapter: the DSPy adapter of `DspyInstructionProposer` (default JSONAdapter).
        style: gepakit's `reflection_style`. For a ``dspy.LM``, "auto" and "general" mean
            dspy.GEPA's proposer (`DspyInstructionProposer`) and "compact" gepakit's
            small-model profile; other LMs get the profile `resolve_style` picks.
        lm_kwargs: sampling params on top of the reflection LM's own (gepa's
            `reflection_lm_kwargs`); a ``dspy.LM`` is copied with them.
        max_text_chars: an optional length budget for the new texts.
    """

    def __init__(
        self,
        *,
        reflection_lm: Any,
        custom: ProposalFn | None,
        ledger: UsageLedger,
        context: contextvars.Context,
        adapter: Any = None,
        style: str = "auto",
        lm_kwargs: Mapping[str, Any] | None = None,
        max_text_chars: int | None = None,
    ) -> None:
        self.reflection_lm = reflection_lm
        self.custom = custom
        self.ledger = ledger
        self.context = context
        self.inner: Proposer
        if custom is not None:
            self.inner = CallableProposer(self._call_custom)
        elif reflection_lm is None:
            raise ConfigError("reflection_lm is required unless instruction_proposer= is given")
        elif is_dspy_lm(reflection_lm) and style != "compact":
            lm = reflection_lm.copy(**lm_kwargs) if lm_kwargs else reflection_lm
            self.inner = DspyInstructionProposer(
                lm, ledger=ledger, adapter=adapter, max_chars=max_text_chars
            )
        else:
            spec = DspyLM(reflection_lm) if is_dspy_lm(reflection_lm) else reflection_lm
            lm = resolve_lm(spec, role="reflection", ledger=ledger, retries=False)
            profile = resolve_style(style, reflection_lm)
            prompt_fn = as_prompt_fn(lm, **dict(lm_kwargs or {}))
            self.inner = make_proposer(profile, prompt_fn, max_text_chars=max_text_chars)

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        return self.context.copy().run(self._propose, request)

    def _propose(self, request: ReflectionRequest) -> ProposerReply:
        present = [c for c in request.components if request.reflective_dataset.get(c)]
        missing = [c for c in request.components if c not in present]
        if missing:
            log.warning(
                "no reflective examples for predictor(s) %s in this minibatch: they did not "
                "run, or only gave replies that could not be parsed (see "
                "add_format_failure_as_feedback); they are not updated by this proposal",
                ", ".join(repr(m) for m in missing),
            )
        if not present:
            raise RuntimeError(
                f"none of the selected predictors ({', '.join(request.components)}) produced "
                "a reflective example on this minibatch"
            )
        sub = dataclasses.replace(
            request,
            components=tuple(present),
            reflective_dataset={c: request.reflective_dataset[c] for c in present},
        )
        return self.inner.propose(sub)

    def _call_custom(
        self, candidate: dict[str, str], dataset: Mapping[str, Any], components: list[str]
    ) -> Mapping[str, str]:
        assert self.custom is not None  # set in __init__ whenever this method is used
        lm = self.reflection_lm if is_dspy_lm(self.reflection_lm) else dspy.settings.lm
        tracker = UsageTracker()
        try:
            with dspy.context(lm=lm, usage_tracker=tracker):
                return self.custom(
                    candidate=candidate,
                    reflective_dataset=dict(dataset),
                    components_to_update=components,
                )
        finally:
            record_tracker(self.ledger, "reflection", tracker, local=is_local_dspy_lm(lm))


class _ProposeWithImages(dspy.Signature):
    """Write better instructions for one step of an AI program.

    The examples show what the step received, what it answered and feedback on the
    answer. Images are shown in `images`; the text refers to the n-th image as [IMAGE-n].
    Keep what works, fix what the feedback names, and state any rules the step needs
    about what to look for in the images. Give the complete new instructions.
    """

    current_instructions: str = dspy.InputField(desc="the step's instructions now")
    examples_with_feedback: str = dspy.InputField(
        desc="inputs, outputs and feedback; [IMAGE-n] marks the n-th entry of `images`"
    )
    images: list[dspy.Image] = dspy.InputField(desc="every image, in [IMAGE-n] order")
    new_instructions: str = dspy.OutputField(desc="the complete improved instructions")


def _as_image(value: Any) -> dspy.Image | None:
    """A `dspy.Image`, or the dict a stored one became (``{"url": ...}``), else None."""
    if isinstance(value, dspy.Image):
        return value
    if isinstance(value, Mapping) and set(value) == {"url"}:
        url = value["url"]
        if isinstance(url, str) and url.startswith(("data:image/", "http://", "https://")):
            return dspy.Image(url=url)
    return None


class _ImageNumbering:
    """Replaces images by ``[IMAGE-n]`` with n unique across the whole prompt."""

    def __init__(self) -> None:
        self.images: list[dspy.Image] = []

    def render(self, value: Any, indent: str = "") -> str:
        image = _as_image(value)
        if image is not None:
            self.images.append(image)
            return f"[IMAGE-{len(self.images)}]"
        if isinstance(value, Mapping):
            inner = indent + "  "
            return "".join(f"\n{inner}{k}: {self.render(v, inner)}" for k, v in value.items())
        if isinstance(value, (list, tuple)):
            inner = indent + "  "
            return "".join(f"\n{inner}- {self.render(v, inner)}" for v in value)
        return str(value)


def render_examples(records: Sequence[Mapping[str, Any]]) -> tuple[str, list[dspy.Image]]:
    """Reflective records as text with numbered image placeholders, and the images in order.

    Numbering runs across all records: the first image of the second example follows
    the last image of the first, so every placeholder names exactly one image.
    """
    numbering = _ImageNumbering()
    blocks = []
    for i, rec in enumerate(records, 1):
        lines = [f"## Example {i}"]
        for key, value in rec.items():
            lines.append(f"{key}: {numbering.render(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks), numbering.images


class MultiModalInstructionProposer:
    """A DSPy-style instruction proposer that shows `dspy.Image` inputs to the reflection LM.

    Use it as ``GEPA(..., instruction_proposer=MultiModalInstructionProposer())`` with a
    vision-capable `reflection_lm`. Each image in the reflective examples is sent as an
    image and referenced in the text as ``[IMAGE-n]``, numbered uniquely across the
    whole prompt. Calls go to ``dspy.settings.lm``, which GEPA sets to `reflection_lm`
    while proposing.

    Args:
        lm: a dspy LM to use instead of the one in context.
    """

    def __init__(self, lm: Any = None) -> None:
        self.lm = lm
        self.predict = dspy.Predict(_ProposeWithImages)

    def __call__(
        self,
        candidate: Mapping[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: Sequence[str],
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in components_to_update:
            records = reflective_dataset.get(name) or []
            if not records:
                continue
            text, images = render_examples(records)
            kwargs: dict[str, Any] = {"lm": self.lm} if self.lm is not None else {}
            pred = self.predict(
                current_instructions=candidate[name],
                examples_with_feedback=text,
                images=images,
                **kwargs,
            )
            new = str(pred.new_instructions or "").strip()
            if new:
                out[name] = new
        return out
