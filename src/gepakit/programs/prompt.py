"""`PromptProgram`: the built-in evaluator for "a system prompt plus a user template"."""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gepakit.errors import ConfigError, LMError
from gepakit.lm.base import LM, Message
from gepakit.lm.usage import LedgerTaps
from gepakit.programs.metrics import Metric, make_metric, shorten
from gepakit.types import Example, Score

__all__ = ["PromptProgram", "TaskLMLike"]

TaskLMLike = LM | str | Callable[[str], str]
"""An LM object, or a model name or ``fn(prompt) -> str`` for `gepakit.lm.resolve_lm`."""

Parser = Callable[[str], str]


def _as_lm(task_lm: TaskLMLike, api_base: str | None = None) -> LM:
    if callable(getattr(task_lm, "complete", None)):
        return task_lm  # pyright: ignore[reportReturnType]
    from gepakit.lm import resolve_lm  # the LM layer loads providers lazily

    if isinstance(task_lm, str) and api_base:
        return resolve_lm(task_lm, role="task", api_base=api_base)
    return resolve_lm(task_lm, role="task")


def _regex_parser(pattern: str) -> Parser:
    compiled = re.compile(pattern, re.DOTALL)

    def parse(reply: str) -> str:
        match = compiled.search(reply)
        if match is None:
            raise ValueError(f"no text matching the pattern {pattern!r}")
        return match.group(1) if compiled.groups else match.group(0)

    return parse


def _template_fields(template: str) -> tuple[str, ...]:
    """Top-level field names used by a `str.format` template, in order, without repeats."""
    names: list[str] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            name = re.split(r"[.\[]", field, maxsplit=1)[0]
            if name and name not in names:
                names.append(name)
    return tuple(names)


def example_fields(example: Any) -> dict[str, Any]:
    """The fields of an example as a dict: a mapping, an `Example`'s data, or a dataclass.

    Raises:
        ConfigError: the example has no fields gepakit can read.
    """
    if isinstance(example, Example):
        example = example.data
    if isinstance(example, Mapping):
        mapping: Mapping[Any, Any] = example  # pyright: ignore[reportUnknownVariableType]
        return {str(k): v for k, v in mapping.items()}
    if dataclasses.is_dataclass(example) and not isinstance(example, type):
        return dataclasses.asdict(example)
    if hasattr(example, "__dict__"):
        return dict(vars(example))
    raise ConfigError(
        f"cannot read fields from an example of type {type(example).__name__}; "
        "use dicts (or dataclasses) for PromptProgram examples"
    )


class PromptProgram:
    """Evaluate a candidate system prompt on one example with a task LM.

    The candidate's `component` text becomes the system message, `user_template`
    filled with the example's fields becomes the user message; the reply is parsed
    and scored. Calling the program returns a `gepakit.Score` with feedback written
    for the reflection LM and a trace ``{component: {"inputs": ..., "outputs": reply}}``
    whose inputs are the example fields the template uses.

    Instances hold no mutable state and are safe to call from several threads when the
    task LM is.

    Args:
        task_lm: an LM object, or a model name or callable ``fn(prompt) -> str`` that
            ``gepakit.lm.resolve_lm(..., role="task")`` turns into one.
        component: name of the candidate component used as the system prompt.
        user_template: `str.format` template over the example's fields.
        answer_field: example field holding the expected answer.
        parser: extracts the answer from the reply before scoring: a callable
            ``reply -> answer`` that raises ValueError on a bad reply, or a regular
            expression (its first group, else the whole match, is the answer).
        metric: ``"exact_match"``, ``"contains"``, ``"regex"``, ``"json_field"`` or a
            callable ``(example fields, answer) -> float | Score``.
        labels: allowed answers; the feedback lists them.
        max_tokens: completion limit of the task LM.
        temperature: sampling temperature of the task LM.
        api_base: base URL of an OpenAI-compatible server for a model-name `task_lm`.

    Raises:
        ConfigError: an unknown metric name or a `task_lm` that is not an LM.
    """

    def __init__(
        self,
        task_lm: TaskLMLike,
        *,
        component: str = "system_prompt",
        user_template: str = "{text}",
        answer_field: str = "label",
        parser: Parser | str | None = None,
        metric: str | Metric = "exact_match",
        labels: Sequence[str] | None = None,
        max_tokens: int = 64,
        temperature: float = 0.0,
        api_base: str | None = None,
    ) -> None:
        self.task_lm = _as_lm(task_lm, api_base)
        self.component = component
        self.user_template = user_template
        self.template_fields = _template_fields(user_template)
        self.answer_field = answer_field
        self.parser: Parser | None = _regex_parser(parser) if isinstance(parser, str) else parser
        self.labels = tuple(labels) if labels is not None else None
        self.metric = make_metric(metric, answer_field=answer_field, labels=self.labels)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._taps = LedgerTaps(self.task_lm, "task")

    def use_ledger(self, ledger: Any) -> None:
        """Also count this program's task-LM calls in `ledger` (role ``task``).

        `gepakit.optimize` calls this with its run ledger, so the `Result`'s usage
        covers the task LM too, and an LM-calling metric's own calls (an `LLMJudge`,
        role ``judge``).
        """
        self._taps.add(ledger)
        hook = getattr(self.metric, "use_ledger", None)
        if ledger is not None and callable(hook):
            hook(ledger)

    def messages(self, candidate: Mapping[str, str], fields: Mapping[str, Any]) -> list[Message]:
        """The chat messages sent for `candidate` on an example with `fields`.

        Raises:
            ConfigError: the candidate lacks the component or the template a field.
        """
        if self.component not in candidate:
            raise ConfigError(
                f"the candidate has no component {self.component!r} "
                f"(it has {sorted(candidate)}); set component= to the system prompt's name"
            )
        try:
            user = self.user_template.format_map(fields)
        except KeyError as missing:
            raise ConfigError(
                f"user_template needs the field {missing} but the example has {sorted(fields)}"
            ) from None
        return [
            {"role": "system", "content": candidate[self.component]},
            {"role": "user", "content": user},
        ]

    def __call__(self, candidate: Mapping[str, str], example: Any) -> Score:
        """Run the task LM with `candidate` on `example` and score the reply.

        Raises:
            ConfigError: the candidate, template or example do not fit together.
            LMError: the task LM failed (the engine records the rollout as failed).
        """
        fields = example_fields(example)
        try:
            completion = self.task_lm.complete(
                self.messages(candidate, fields),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except LMError:
            self._taps.record_error()
            raise
        self._taps.record(completion)
        reply = completion.text
        trace = {self.component: {"inputs": self._shown_inputs(fields), "outputs": reply}}
        score = self._score(fields, reply)
        feedback = score.feedback or ""
        if completion.finish_reason == "length":
            feedback += f" The reply was cut off after {self.max_tokens} tokens: answer briefly."
        return dataclasses.replace(
            score,
            feedback=feedback.strip() or None,
            output=reply if score.output is None else score.output,
            trace=trace if score.trace is None else score.trace,
        )

    def _shown_inputs(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the task LM saw (those in the template), for the reflection LM.

        Leaving out ids and the expected answer keeps the reflective record focused; the
        feedback names the expected answer.
        """
        shown = {name: fields[name] for name in self.template_fields if name in fields}
        return shown or dict(fields)

    def _score(self, fields: Mapping[str, Any], reply: str) -> Score:
        answer = reply
        if self.parser is not None:
            try:
                answer = self.parser(reply)
            except ValueError as error:
                return Score(0.0, feedback=self._parse_error_feedback(fields, reply, error))
        verdict = self.metric(fields, answer)
        if isinstance(verdict, Score):
            return verdict
        value = float(verdict)
        expected = fields.get(self.answer_field)
        return Score(
            value,
            feedback=f"Score {value:g} for the reply {shorten(reply)!r}; expected {expected!r}.",
        )

    def _parse_error_feedback(
        self, fields: Mapping[str, Any], reply: str, error: ValueError
    ) -> str:
        expected = fields.get(self.answer_field)
        allowed = f" The answer must be one of: {', '.join(self.labels)}." if self.labels else ""
        return (
            f"Format error: the answer could not be read from the reply {shorten(reply)!r} "
            f"({error}). The expected {self.answer_field} was {expected!r}.{allowed} "
            "Follow the required answer format exactly."
        )
