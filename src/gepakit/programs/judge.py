"""`LLMJudge`: an LLM-as-judge metric that returns a score and feedback for reflection.

Use it where the answer is free text that no exact-match rule can score: as the
`metric` of a `PromptProgram`, or inside your own evaluator::

    judge = gepakit.metrics.llm_judge("openai/gpt-4o-mini",
                                      criteria="The summary is faithful and under 50 words.",
                                      reference_field="summary")
    program = PromptProgram("openai/gpt-4o-mini", metric=judge, user_template="{article}")

    def evaluate(candidate, example):          # or by hand
        reply = my_system(candidate, example)
        return judge(example, reply)           # a gepakit.Score with the judge's feedback
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from gepakit.errors import ConfigError, LMError
from gepakit.types import Score

__all__ = ["JUDGE_TEMPLATE", "JudgeReplyError", "LLMJudge", "llm_judge"]

JUDGE_TEMPLATE = """\
You grade the output of an AI system. Be strict and concrete.

Grading criteria:
{criteria}

Input given to the system:
{inputs}
{reference}
Output of the system:
<<<
{reply}
>>>

Answer in exactly two lines:
Feedback: <one to three sentences: what is wrong or missing in the output, and what the \
system should do differently; or why it is fully correct>
Score: <an integer from 0 (useless) to {scale} (fully meets the criteria)>
"""
"""The judge prompt: `str.format` fields criteria, inputs, reference, reply, scale."""

_SCORE = re.compile(r"(?im)^\W*score\W*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?")
_FEEDBACK = re.compile(r"(?is)feedback\W*[:=]\s*(.*?)(?=^\W*score\W*[:=]|\Z)", re.MULTILINE)
_TEMPLATE_FIELDS = {"criteria", "inputs", "reference", "reply", "scale"}
_SHOWN_CHARS = 4000


class JudgeReplyError(ValueError):
    """The judge LM's reply has no readable score (the rollout is recorded as failed)."""


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def parse_judgement(reply: str, scale: float) -> tuple[float, str]:
    """(score in [0, 1], feedback) from a judge reply.

    Reads ``Score: 7`` (also ``Score: 7/10``, ``**Score:** 7``) and ``Feedback: ...``
    lines, or a JSON object with ``score`` and ``feedback``.

    Raises:
        JudgeReplyError: no score in the reply.
    """
    text = reply.strip()
    data: Any = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
    if isinstance(data, dict) and isinstance(data.get("score"), (int, float)):
        raw, out_of = float(data["score"]), scale
        feedback = str(data.get("feedback") or data.get("reason") or "")
    else:
        matches = _SCORE.findall(text)
        if not matches:
            shown = " ".join(text.split())[:200]
            raise JudgeReplyError(f"the judge's reply has no 'Score: N' line: {shown!r}")
        number, denominator = matches[-1]
        raw = float(number)
        out_of = float(denominator) if denominator else scale
        found = _FEEDBACK.search(text)
        feedback = found.group(1) if found else _SCORE.sub("", text)
    value = min(1.0, max(0.0, raw / out_of)) if out_of > 0 else 0.0
    return value, " ".join(feedback.split())


class LLMJudge:
    """A metric ``(example, reply) -> Score`` that asks an LM to grade the reply.

    The score is the judge's grade scaled to [0, 1]; the feedback is the judge's
    explanation, which is what the reflection LM reads to improve the prompt.
    Thread-safe when the LM is. Use `llm_judge(...)` to build one.

    Args:
        lm: the judge LM: a model name (``"openai/gpt-4o-mini"``, ``"local"``), an LM
            object, a ``dspy.LM``, or a callable ``prompt -> reply``.
        criteria: what a good output is, in words.
        input_fields: example fields shown to the judge as the input; default all
            fields except `reference_field` and ``id``.
        reference_field: example field with a reference answer to compare against.
        scale: the grade's maximum (``Score: N`` out of `scale`).
        template: the judge prompt (fields ``{criteria}``, ``{inputs}``,
            ``{reference}``, ``{reply}``, ``{scale}``); default `JUDGE_TEMPLATE`.
        max_tokens / temperature: sampling params of the judge LM.
        **lm_options: passed to `gepakit.lm.resolve_lm` (api_base, retries, ...).

    Raises:
        ConfigError: empty criteria, a bad scale or a template with unknown fields.
    """

    def __init__(
        self,
        lm: Any,
        *,
        criteria: str,
        input_fields: Sequence[str] | None = None,
        reference_field: str | None = None,
        scale: int = 10,
        template: str = JUDGE_TEMPLATE,
        max_tokens: int = 300,
        temperature: float = 0.0,
        **lm_options: Any,
    ) -> None:
        if not isinstance(criteria, str) or not criteria.strip():
            raise ConfigError("llm_judge: criteria must be a non-empty text saying what is good")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"llm_judge: scale must be an integer >= 1, got {scale!r}")
        unknown = _fields(template) - _TEMPLATE_FIELDS
        if unknown:
            raise ConfigError(
                f"llm_judge: the template uses unknown fields {sorted(unknown)}; "
                f"known: {sorted(_TEMPLATE_FIELDS)}"
            )
        from gepakit.lm import resolve_lm  # the LM layer loads providers lazily
        from gepakit.lm.usage import LedgerTaps

        self.lm = resolve_lm(lm, role="judge", **lm_options)
        self._taps = LedgerTaps(self.lm, "judge")
        self.criteria = criteria.strip()
        self.input_fields = tuple(input_fields) if input_fields is not None else None
        self.reference_field = reference_field
        self.scale = scale
        self.template = template
        self.max_tokens = max_tokens
        self.temperature = temperature

    def __repr__(self) -> str:
        return f"LLMJudge({self.lm.model!r}, criteria={self.criteria[:40]!r})"

    def use_ledger(self, ledger: Any) -> None:
        """Also count the judge LM's calls in `ledger` (role ``judge``).

        A `PromptProgram` whose metric is this judge passes its run ledger on, so the
        `Result`'s usage, cost and `max_cost_usd` cover the judge too.
        """
        self._taps.add(ledger)

    def prompt(self, example: Mapping[str, Any], reply: str) -> str:
        """The judge prompt for `reply` on `example`."""
        from gepakit.programs.prompt import example_fields

        fields = example_fields(example)
        names = self.input_fields or [k for k in fields if k not in ("id", self.reference_field)]
        inputs = "\n".join(f"{k}: {_shown(fields.get(k))}" for k in names) or "(none)"
        reference = ""
        if self.reference_field is not None:
            if self.reference_field not in fields:
                raise ConfigError(
                    f"llm_judge: the example has no field {self.reference_field!r} "
                    f"(fields: {sorted(fields)}); set reference_field= accordingly"
                )
            reference = (
                f"\nReference answer (a correct output; wording may differ):\n"
                f"{_shown(fields[self.reference_field])}\n"
            )
        return self.template.format(
            criteria=self.criteria,
            inputs=inputs,
            reference=reference,
            reply=_shown(reply),
            scale=self.scale,
        )

    def __call__(self, example: Mapping[str, Any], reply: Any) -> Score:
        """Grade `reply` on `example`.

        Raises:
            JudgeReplyError: the judge's reply has no score.
            LMError: the judge LM failed.
        """
        from gepakit.lm.base import user_message

        text = reply if isinstance(reply, str) else json.dumps(reply, default=str)
        try:
            completion = self.lm.complete(
                user_message(self.prompt(example, text)),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except LMError:
            self._taps.record_error()
            raise
        self._taps.record(completion)
        value, feedback = parse_judgement(completion.text, self.scale)
        return Score(
            value,
            feedback=f"Judge: {feedback}" if feedback else None,
            output=text,
        )


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def llm_judge(lm: Any, criteria: str, **options: Any) -> LLMJudge:
    """An LLM-as-judge metric: ``judge(example, reply) -> Score`` with feedback.

    Args:
        lm: the judge LM (a model name, an LM object, a ``dspy.LM`` or ``prompt -> reply``).
        criteria: what a good output is, in words.
        **options: see `LLMJudge` (reference_field, input_fields, scale, template,
            max_tokens, temperature, api_base, ...).

    Returns:
        An `LLMJudge`, usable as `PromptProgram(metric=...)` or called in an evaluator.
    """
    return LLMJudge(lm, criteria=criteria, **options)
