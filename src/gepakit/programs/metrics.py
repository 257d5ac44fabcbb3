"""Built-in metrics of `PromptProgram`: score a reply and say why, for the reflection LM.

A metric is any callable ``(example, reply) -> float | Score``. The built-ins here
return a `Score` whose feedback names the expected answer, what the reply was and the
format the answer must have, because that is what lets a reflection LM fix a prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gepakit.errors import ConfigError
from gepakit.types import Score

__all__ = [
    "Contains",
    "ExactMatch",
    "JsonField",
    "Metric",
    "Regex",
    "extract_json",
    "make_metric",
    "normalize_answer",
    "strip_code_fence",
]

Metric = Callable[[Mapping[str, Any], str], float | Score]
"""``(example fields, reply text) -> score or Score``; higher is better."""

_FENCE = re.compile(r"```[ \t]*[\w+-]*[ \t]*\n?(.*?)(?:\n?```|$)", re.DOTALL)
_QUOTES = "\"'`“”‘’«»"  # noqa: RUF001 (typographic quotes are what we strip)
_TRAILING = ".,;:!?。"
_SHOWN_CHARS = 200


def strip_code_fence(text: str) -> str:
    """The content of the first Markdown code fence in `text`, or `text` unchanged."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def normalize_answer(text: str) -> str:
    """Canonical form for comparing short answers.

    Drops a surrounding code fence, surrounding quotes and trailing punctuation,
    collapses whitespace and case-folds: ``'```\\n"Play_Music."\\n```'`` becomes
    ``'play_music'``.
    """
    text = strip_code_fence(text).strip()
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip(_QUOTES).rstrip(_TRAILING)
    return " ".join(text.split()).casefold()


def shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    """`text` on one line, cut to `limit` characters with a marker."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _expected(example: Mapping[str, Any], field: str) -> str:
    if field not in example:
        raise ConfigError(
            f"the example has no field {field!r} (fields: {sorted(example)}); "
            "set answer_field= to the field that holds the expected answer"
        )
    return str(example[field])


def _allowed_clause(labels: Sequence[str] | None) -> str:
    if not labels:
        return "The reply must be exactly the expected answer and nothing else."
    return (
        f"Allowed labels: {', '.join(labels)}. Every input has one of these labels, so the "
        "reply must be exactly one of them and nothing else."
    )


@dataclass(frozen=True, slots=True)
class ExactMatch:
    """1.0 if the reply equals the expected answer after `normalize_answer`, else 0.0.

    Args:
        answer_field: example field holding the expected answer.
        labels: the allowed answers, named in the feedback when given.
    """

    answer_field: str = "label"
    labels: Sequence[str] | None = None

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        expected = _expected(example, self.answer_field)
        got = normalize_answer(reply)
        if got == normalize_answer(expected):
            correct = f"Correct: the {self.answer_field} is {expected!r}."
            # Restating the labels on correct replies too keeps the format requirement in
            # every feedback, which the reflection prompt then shows once.
            allowed = f" {_allowed_clause(self.labels)}" if self.labels else ""
            return Score(1.0, feedback=correct + allowed)
        parts = [
            f"Wrong. Expected {self.answer_field} {expected!r} "
            f"but the reply was {shorten(reply)!r}."
        ]
        parts.append(self._diagnosis(got, expected))
        parts.append(_allowed_clause(self.labels))
        return Score(0.0, feedback=" ".join(p for p in parts if p))

    def _diagnosis(self, got: str, expected: str) -> str:
        """One sentence on the kind of mistake: wrong label, extra text or invented label."""
        labels = {normalize_answer(label): label for label in self.labels or ()}
        if got in labels:
            return f"{labels[got]!r} is the wrong {self.answer_field} for this input."
        mentioned = [label for norm, label in labels.items() if norm in got]
        if normalize_answer(expected) in got:
            return "The reply contains the right answer but also other text."
        if mentioned:
            return f"The reply mentions {', '.join(map(repr, mentioned))} but adds other text."
        if labels:
            return "The reply is not one of the allowed labels."
        return ""


@dataclass(frozen=True, slots=True)
class Contains:
    """1.0 if the expected answer appears in the reply (case-insensitive), else 0.0."""

    answer_field: str = "label"

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        expected = _expected(example, self.answer_field)
        if normalize_answer(expected) in " ".join(reply.split()).casefold():
            return Score(1.0, feedback=f"Correct: the reply contains {expected!r}.")
        return Score(
            0.0,
            feedback=(
                f"Wrong. The reply should contain the {self.answer_field} {expected!r} "
                f"but it was {shorten(reply)!r}."
            ),
        )


@dataclass(frozen=True, slots=True)
class Regex:
    """1.0 if a regular expression matches the reply (`re.search`), else 0.0.

    Args:
        answer_field: example field holding the pattern, used when `pattern` is None.
        pattern: one pattern for every example instead of a per-example one.
    """

    answer_field: str = "label"
    pattern: str | None = None

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        pattern = (
            self.pattern if self.pattern is not None else _expected(example, self.answer_field)
        )
        if re.search(pattern, reply):
            return Score(1.0, feedback=f"Correct: the reply matches the pattern {pattern!r}.")
        return Score(
            0.0,
            feedback=(
                f"Wrong. The reply {shorten(reply)!r} does not match the required "
                f"pattern {pattern!r} (a Python regular expression)."
            ),
        )


def extract_json(text: str) -> Any:
    """Parse the JSON value in a reply: fenced, bare, or the outermost ``{...}``.

    Raises:
        ValueError: no JSON value could be parsed.
    """
    candidates = [strip_code_fence(text).strip(), text.strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("the reply contains no valid JSON")


@dataclass(frozen=True, slots=True)
class JsonField:
    """1.0 if the reply is JSON whose `key` equals the expected answer, else 0.0.

    Args:
        answer_field: example field holding the expected answer.
        key: key to read in the reply's JSON object; defaults to `answer_field`.
        labels: the allowed answers, named in the feedback when given.
    """

    answer_field: str = "label"
    key: str | None = None
    labels: Sequence[str] | None = None

    def __call__(self, example: Mapping[str, Any], reply: str) -> Score:
        expected = _expected(example, self.answer_field)
        key = self.key or self.answer_field
        shape = f'{{"{key}": "<{key}>"}}'
        try:
            data = extract_json(reply)
        except ValueError:
            return Score(
                0.0,
                feedback=(
                    f"Format error: the reply {shorten(reply)!r} is not valid JSON. "
                    f"Reply with one JSON object such as {shape}; the expected {key} "
                    f"here was {expected!r}."
                ),
            )
        if not isinstance(data, dict) or key not in data:
            return Score(
                0.0,
                feedback=(
                    f"Format error: the reply JSON has no key {key!r}. Reply with one JSON "
                    f"object such as {shape}; the expected {key} here was {expected!r}."
                ),
            )
        value = str(data[key])  # pyright: ignore[reportUnknownArgumentType]
        inner = ExactMatch(answer_field=self.answer_field, labels=self.labels)
        verdict = inner({self.answer_field: expected}, value)
        return Score(verdict.score, feedback=f"In the reply JSON, {key!r}: {verdict.feedback}")


_BUILTINS: dict[str, Callable[[str, Sequence[str] | None], Metric]] = {
    "exact_match": lambda field, labels: ExactMatch(field, labels),
    "contains": lambda field, _labels: Contains(field),
    "regex": lambda field, _labels: Regex(field),
    "json_field": lambda field, labels: JsonField(field, labels=labels),
}


def make_metric(
    metric: str | Metric, *, answer_field: str = "label", labels: Sequence[str] | None = None
) -> Metric:
    """Turn a metric name or callable into a metric callable.

    Args:
        metric: ``"exact_match"``, ``"contains"``, ``"regex"``, ``"json_field"`` or a
            callable ``(example, reply) -> float | Score``.
        answer_field: example field holding the expected answer (built-ins only).
        labels: allowed answers, named in feedback (built-ins only).

    Raises:
        ConfigError: an unknown metric name.
    """
    if callable(metric):
        return metric
    factory = _BUILTINS.get(metric)
    if factory is None:
        raise ConfigError(
            f"unknown metric {metric!r}; use one of {sorted(_BUILTINS)} "
            "or a callable (example, reply) -> float | Score"
        )
    return factory(answer_field, labels)
