"""The default instruction proposer of `gepakit.dspy.GEPA` for a ``dspy.LM`` reflection model.

It behaves as dspy.GEPA 3.4.1's built-in proposer does for the same inputs: one
``dspy.Predict`` call per component through a `JSONAdapter` (the user may pass another
adapter), a general reflection prompt with no answer shape and no length cap, and the
reflective examples passed as structured values, so `dspy.Image` and other `dspy.Type`
inputs reach the reflection LM as real image (or file, audio) parts. The prompt is in
our own words.

gepakit's extras stay on: the texts already tried and rejected for this parent are
shown (only when there are some), replies are parsed robustly (a reply the adapter
cannot parse is read as text: field markers, fences and `<think>` blocks removed; a
broken JSON reply is rejected, not adopted), and every call is counted in the run's
usage ledger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
from dspy.adapters.chat_adapter import ChatAdapter
from dspy.adapters.json_adapter import JSONAdapter
from dspy.utils.callback import BaseCallback
from dspy.utils.exceptions import AdapterParseError
from dspy.utils.usage_tracker import UsageTracker

from gepakit.engine.parsing import IDENTICAL, ParsedReply, parse_reply, strip_reasoning
from gepakit.engine.reflection import Attempt, ProposerReply, ReflectionRequest, proposer_reply
from gepakit.integrations.dspy.lm import is_local_dspy_lm, record_tracker
from gepakit.integrations.dspy.programs import ExampleRecord
from gepakit.lm.usage import UsageLedger

REFLECTION_INSTRUCTIONS = (
    "You are improving the instruction that an AI assistant follows for one step of a "
    "task.\n\n"
    "You get the instruction the assistant has now and examples of that step at work: the "
    "inputs it received, the output it produced and feedback on that output.\n\n"
    "From the inputs, work out what the task is and how its inputs are laid out. From the "
    "outputs and the feedback, collect the facts about the domain, the rules and "
    "constraints the outputs must meet, and the strategies that lead to good outputs, "
    "including what the current instruction already gets right. The assistant will not "
    "see these examples or this feedback later, so write them into the instruction when "
    "they generalize.\n\n"
    "Write a new, complete and self-contained instruction for the assistant."
)
"""The general reflection prompt (our own words): no answer shape, no length cap."""


class _ImproveInstruction(dspy.Signature):
    """Improve an instruction from examples with feedback."""

    current_instruction: str = dspy.InputField(desc="The instruction the assistant follows now.")
    examples_with_feedback: list[dict[str, Any]] = dspy.InputField(
        desc="For each example: the inputs of the step, what the assistant produced, and "
        "feedback on how that output could be better."
    )
    new_instruction: str = dspy.OutputField(desc="The new instruction for the assistant.")


ImproveInstruction = _ImproveInstruction.with_instructions(REFLECTION_INSTRUCTIONS)
"""The default proposer's signature (one more input field when texts were rejected)."""


_ALREADY_TRIED = "earlier_attempts"
_LENGTH_LIMIT = "length_limit"
_ALREADY_TRIED_DESC = (
    "Rewrites of this instruction that were already tried and scored no better. Write "
    "something that differs from them where they went wrong."
)
_CUT_OFF = (
    "the reply was cut off at the reflection LM's token limit (finish_reason 'length'); "
    "raise its max_tokens"
)
_FIELD_MARKER = re.compile(r"^\s*\[\[ ## [\w.-]+ ## \]\]\s*$", re.MULTILINE)
_CUSTOM_TYPE = re.compile(
    r"<<CUSTOM-TYPE-START-IDENTIFIER>>.*?<<CUSTOM-TYPE-END-IDENTIFIER>>", re.DOTALL
)
_WHOLE_FENCE = re.compile(r"^```[^\n`]*\n(.*)\n```$", re.DOTALL)


def _as_dspy_value(value: Any) -> Any:
    """Values back to DSPy types where a stored run turned them into plain data."""
    if isinstance(value, Mapping):
        if set(value) == {"url"} and isinstance(value["url"], str):
            url = str(value["url"])
            if url.startswith(("data:image/", "http://", "https://")):
                return dspy.Image(url=url)
        return {str(k): _as_dspy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_dspy_value(v) for v in value]
    if isinstance(value, ExampleRecord):
        return _as_dspy_value(value.to_dict())
    return value


def _clean_field(text: str) -> str:
    """A parsed `new_instruction`: reasoning removed, one fence around the whole unwrapped."""
    text = strip_reasoning(text).strip()
    whole = _WHOLE_FENCE.match(text)
    return whole.group(1).strip() if whole else text


def _read_unparsed(reply: str, current: str) -> ParsedReply:
    """Read a reply the adapter could not parse: ChatAdapter fields, else plain text."""
    stripped = strip_reasoning(reply).strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            return ParsedReply(None, "the reply is broken or cut-off JSON")
        strings = (
            [v for v in value.values() if isinstance(v, str)] if isinstance(value, dict) else []
        )
        if len(strings) != 1:
            return ParsedReply(None, "the JSON reply has no single instruction field")
        stripped = strings[0]
    try:
        fields = ChatAdapter().parse(ImproveInstruction, stripped)
        stripped = str(fields.get("new_instruction") or stripped)
    except Exception:  # not ChatAdapter's format either: read it as text
        stripped = _FIELD_MARKER.sub("", stripped).strip()
    return parse_reply(stripped, current)


class _LMCalls(BaseCallback):
    """Records (LM, outputs) of the LM calls made in one proposal (one instance each)."""

    def __init__(self) -> None:
        self._lms: dict[str, Any] = {}
        self.calls: list[tuple[Any, Any]] = []

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self._lms[call_id] = instance

    def on_lm_end(
        self, call_id: str, outputs: Any | None, exception: BaseException | None = None
    ) -> None:
        self.calls.append((self._lms.pop(call_id, None), outputs))

    def last_text(self) -> str | None:
        """The raw text of the last LM call, for the run record."""
        if not self.calls:
            return None
        outputs = self.calls[-1][1]
        first = outputs[0] if isinstance(outputs, list) and outputs else outputs
        if isinstance(first, Mapping):
            first = first.get("text")
        text = getattr(first, "text", first)
        return text if isinstance(text, str) else None

    def truncated(self) -> bool:
        """Whether an LM call stopped at its token limit (finish_reason "length")."""
        return any(_finish_reason(lm, outputs) == "length" for lm, outputs in self.calls)


def _finish_reason(lm: Any, outputs: Any) -> str | None:
    """The finish reason of one call, from DSPy's history entry for it (matched by identity)."""
    reason = getattr(outputs, "finish_reason", None)
    if isinstance(reason, str):
        return reason
    for entry in reversed(list(getattr(lm, "history", None) or [])[-64:]):
        if isinstance(entry, Mapping) and entry.get("outputs") is outputs:
            response = entry.get("response")
            choices = getattr(response, "choices", None)
            first = (
                choices[0]
                if choices
                else (response[0] if isinstance(response, list) and response else response)
            )
            found = getattr(first, "finish_reason", None)
            return found if isinstance(found, str) else None
    return None


def _render_messages(adapter: Any, signature: Any, inputs: Mapping[str, Any]) -> str:
    """The prompt as text for the run record (media shown as a placeholder)."""
    try:
        messages = adapter.format(signature, demos=[], inputs=dict(inputs))
    except Exception as exc:  # the record is informative only
        return f"(prompt could not be rendered: {exc})"
    parts = [f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages]
    return _CUSTOM_TYPE.sub("[media]", "\n\n".join(parts))


class DspyInstructionProposer:
    """gepakit `Proposer` writing new instructions with a ``dspy.LM`` (see module docs).

    Args:
        lm: the reflection ``dspy.BaseLM``; its own settings (temperature, max_tokens,
            cache) apply unchanged.
        ledger: where reflection calls are counted (role "reflection").
        adapter: the adapter for the reflection calls (default `JSONAdapter()`, as in
            dspy.GEPA 3.4.1).
        max_rejected_shown: how many earlier rejected texts to show per component.
        max_chars: an optional length budget (characters, after stripping): stated in
            the prompt, and a longer text is rejected with the reason (never cut).
            None (the default, as in dspy.GEPA) means no limit.
    """

    def __init__(
        self,
        lm: Any,
        *,
        ledger: UsageLedger,
        adapter: Any = None,
        max_rejected_shown: int = 3,
        max_chars: int | None = None,
    ) -> None:
        self.lm = lm
        self.ledger = ledger
        self.adapter = adapter if adapter is not None else JSONAdapter()
        self.max_rejected_shown = max_rejected_shown
        self.max_chars = max_chars

    def signature(self, rejected: Sequence[str]) -> type[dspy.Signature]:
        """The reflection signature; the length-limit and earlier-attempts fields only
        when a limit is set and texts were rejected."""
        signature: type[dspy.Signature] = ImproveInstruction
        if self.max_chars is not None:
            limit = dspy.InputField(desc="Hard limit on the length of the new instruction.")
            signature = signature.prepend(_LENGTH_LIMIT, limit, str)
        if rejected:
            tried = dspy.InputField(desc=_ALREADY_TRIED_DESC)
            signature = signature.insert(
                len(signature.input_fields), _ALREADY_TRIED, tried, list[str]
            )
        return signature

    def propose(self, request: ReflectionRequest) -> ProposerReply:
        attempts: dict[str, Attempt] = {}
        for name in request.components:
            current = request.candidate[name]
            rejected = list(request.rejected.get(name, ()))[-self.max_rejected_shown :]
            signature = self.signature(rejected)
            inputs: dict[str, Any] = {
                "current_instruction": current,
                "examples_with_feedback": _as_dspy_value(request.reflective_dataset[name]),
            }
            if rejected:
                inputs[_ALREADY_TRIED] = rejected
            if self.max_chars is not None:
                inputs[_LENGTH_LIMIT] = (
                    f"The new instruction must be at most {self.max_chars} characters."
                )
            prompt = _render_messages(self.adapter, signature, inputs)
            reply, parsed = self._ask(signature, inputs, current)
            attempts[name] = Attempt(prompt, reply, parsed)
        return proposer_reply(attempts)

    def _ask(
        self, signature: type[dspy.Signature], inputs: Mapping[str, Any], current: str
    ) -> tuple[str, ParsedReply]:
        tracker = UsageTracker()
        calls = _LMCalls()
        callbacks = [*(dspy.settings.callbacks or []), calls]
        context = {"lm": self.lm, "adapter": self.adapter, "usage_tracker": tracker}
        try:
            with dspy.context(**context, callbacks=callbacks):
                try:
                    prediction = dspy.Predict(signature)(**inputs)
                except AdapterParseError as exc:
                    raw = str(exc.lm_response or "")
                    if calls.truncated():
                        return raw, ParsedReply(None, _CUT_OFF)
                    return raw, _read_unparsed(raw, current)
        finally:
            record_tracker(self.ledger, "reflection", tracker, local=is_local_dspy_lm(self.lm))
        text = _clean_field(str(prediction.new_instruction or ""))
        raw = calls.last_text() or text
        if calls.truncated():
            # JSONAdapter repairs cut-off JSON; the text it recovers ends mid-sentence.
            return raw, ParsedReply(None, _CUT_OFF)
        if not text:
            return raw, ParsedReply(None, "the reflection LM returned an empty instruction")
        if text == current.strip():
            return raw, ParsedReply(None, IDENTICAL)
        if self.max_chars is not None and len(text) > self.max_chars:
            reason = f"the text has {len(text)} characters, over the limit of {self.max_chars}"
            return raw, ParsedReply(None, reason)
        return raw, ParsedReply(text)
