"""Test doubles for gepakit users and gepakit's own tests: fake LMs and a toy task.

Nothing here touches the network or the disk.

- `ScriptedLM` satisfies the `LM` protocol and answers from a script: a list of
  replies in order, a ``prompt -> reply`` function, or a recorded ``prompt -> reply``
  mapping that fails on any unseen prompt.
- `scripted_reflection(fn)` turns ``fn(ReflectionPrompt) -> new text`` into a
  ``prompt -> reply`` callable that reads gepakit's built-in reflection prompt.
- `ToyTask` is a deterministic task: each example needs some "rules" in the
  instruction text; the evaluator's feedback names the missing ones, and
  `ToyTask.reflect` adds exactly those, so GEPA climbs to a perfect score.
- `NoisyEvaluator` wraps a deterministic scorer (such as `ToyTask.score`) and
  replaces its score by a coin flip now and then, reproducibly: a fake LLM judge for
  testing ``eval_repeats`` and ``reuse_evaluations``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gepakit.engine.profiles.compact import SECOND_TRY_MARK
from gepakit.engine.prompts import REJECTED_HEADER
from gepakit.errors import LMError
from gepakit.lm.base import Completion, Message
from gepakit.types import Score

__all__ = [
    "NoisyEvaluator",
    "ReflectionPrompt",
    "ScriptedLM",
    "ToyTask",
    "fenced",
    "parse_reflection_prompt",
    "scripted_reflection",
]

Script = Sequence[str] | Mapping[str, str] | Callable[[str], str]


def _message_text(messages: Sequence[Message]) -> str:
    """The text of chat messages joined by blank lines (roles dropped), like `FunctionLM`."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            for part in content:  # pyright: ignore[reportUnknownVariableType]
                if isinstance(part, Mapping) and part.get("type") == "text":  # pyright: ignore[reportUnknownMemberType]
                    parts.append(str(part.get("text", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return "\n\n".join(p for p in parts if p)


class ScriptedLM:
    """An `LM` that answers from a script and records every prompt.

    Args:
        script: the replies. A sequence is answered in order (running out raises
            `LMError`); a mapping ``prompt -> reply`` replays a recording and raises
            `LMError` on any unseen prompt; a callable ``prompt -> reply`` computes them.
        model: the name reported in completions.

    Thread-safe: calls are serialized by a lock, so `prompts` lists them in call order.
    Errors are `LMError` with ``transient=False``, so retry wrappers do not retry them.
    """

    def __init__(self, script: Script = (), *, model: str = "scripted") -> None:
        self.model = model
        self._script = script
        self._next = 0
        self._lock = threading.Lock()
        self.prompts: list[str] = []

    def __repr__(self) -> str:
        return f"ScriptedLM(model={self.model!r}, calls={self.calls})"

    @property
    def calls(self) -> int:
        """How many times the LM was called (failed calls included)."""
        return len(self.prompts)

    def reply(self, prompt: str) -> str:
        """The scripted reply to `prompt` (recorded as a call).

        Raises:
            LMError: the prompt is not in a recording, or a reply list ran out.
        """
        with self._lock:
            self.prompts.append(prompt)
            script = self._script
            if callable(script):
                return script(prompt)
            if isinstance(script, Mapping):
                if prompt not in script:
                    raise LMError(
                        f"{self.model}: unseen prompt (no recorded reply): {prompt[:200]!r}",
                        provider="scripted",
                    )
                return script[prompt]
            if self._next >= len(script):
                raise LMError(
                    f"{self.model}: ran out of scripted replies after {len(script)} calls",
                    provider="scripted",
                )
            self._next += 1
            return script[self._next - 1]

    def __call__(self, prompt: str) -> str:
        """Use the LM as a plain ``prompt -> reply`` function."""
        return self.reply(prompt)

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Answer the text of `messages`; `params` are accepted and ignored."""
        text = self.reply(_message_text(messages))
        return Completion(text=text, finish_reason="stop", model=self.model)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Same as `complete`."""
        return await asyncio.to_thread(self.complete, messages, **params)


def fenced(text: str) -> str:
    """`text` inside one ``` block: the reply format the reflection prompt asks for."""
    return f"```\n{text}\n```"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReflectionPrompt:
    """What `parse_reflection_prompt` read from a built-in reflection prompt."""

    prompt: str
    component: str
    current_text: str
    feedback: tuple[str, ...]
    rejected: tuple[str, ...]


_COMPONENT = re.compile(r'The instructions are called "([^"]*)"')
_FIRST_FENCE = re.compile(r"```\n(.*?)\n```", re.DOTALL)
_FEEDBACK = re.compile(r"^Feedback: (.*)$", re.MULTILINE)


def parse_reflection_prompt(prompt: str) -> ReflectionPrompt:
    """Read the component, current text, feedback lines and rejected texts of a prompt.

    Works on prompts built from the built-in templates (the general one,
    `gepakit.engine.prompts.DEFAULT_TEMPLATE`, and the compact one).

    Raises:
        ValueError: the prompt does not look like the default template.
    """
    component = _COMPONENT.search(prompt)
    current = _FIRST_FENCE.search(prompt)
    if component is None or current is None:
        raise ValueError(f"not a default reflection prompt: {prompt[:200]!r}")
    rejected: tuple[str, ...] = ()
    if REJECTED_HEADER.strip() in prompt:
        block = prompt.split(REJECTED_HEADER.strip(), 1)[1]
        lines = block.lstrip("\n").split("\n\n", 1)[0].splitlines()
        rejected = tuple(ln[2:] for ln in lines if ln.startswith("- "))
    return ReflectionPrompt(
        prompt=prompt,
        component=component.group(1),
        current_text=current.group(1),
        feedback=tuple(_FEEDBACK.findall(prompt)),
        rejected=rejected,
    )


def scripted_reflection(fn: Callable[[ReflectionPrompt], str | None]) -> Callable[[str], str]:
    """A reflection ``prompt -> reply`` function from ``fn(ReflectionPrompt) -> new text``.

    The reply is the new text in a fenced block; when `fn` returns None the reply
    repeats the current text (which gepakit rejects as unchanged). A second-try prompt
    of the compact profile (`gepakit.engine.profiles.compact.EXTEND_TEMPLATE`) gets an
    empty reply.
    """

    def reflect(prompt: str) -> str:
        if prompt.startswith(SECOND_TRY_MARK):
            return ""  # scripted reflections add nothing on a second try
        parsed = parse_reflection_prompt(prompt)
        text = fn(parsed)
        return fenced(parsed.current_text if text is None else text)

    return reflect


class ToyTask:
    """A deterministic task solved by adding named rules to the instruction text.

    Rule ``k`` is written ``[R<k>]`` and belongs to component ``components[k % P]``.
    Example ``i`` needs ``needs_per_example`` consecutive rules starting at rule
    ``i % num_rules``. Its score is the fraction of needed rules present in their
    components; the feedback names each missing rule ("missing [R2] in 'c0'"). So a
    reflection that adds the named rules (`reflect`) fixes the reported failures.

    Args:
        num_rules: how many distinct rules exist.
        train_size / val_size: dataset sizes (ids ``t0..`` and ``v0..``).
        components: component names of the candidate.
        needs_per_example: rules each example needs.

    `calls` counts evaluator calls (thread-safe), to check budget accounting.
    """

    def __init__(
        self,
        *,
        num_rules: int = 4,
        train_size: int = 8,
        val_size: int = 6,
        components: Sequence[str] = ("instruction",),
        needs_per_example: int = 1,
    ) -> None:
        if num_rules < 1 or not components or needs_per_example < 1:
            raise ValueError("ToyTask needs at least one rule, component and need per example")
        self.num_rules = num_rules
        self.components = tuple(components)
        self.needs_per_example = min(needs_per_example, num_rules)
        self.trainset = [self._example(f"t{i}", i) for i in range(train_size)]
        self.valset = [self._example(f"v{i}", i) for i in range(val_size)]
        self.calls = 0
        self._lock = threading.Lock()

    def rule(self, k: int) -> str:
        """The text of rule `k`."""
        return f"[R{k}]"

    def component_of(self, k: int) -> str:
        """The component rule `k` must appear in."""
        return self.components[k % len(self.components)]

    def _example(self, ex_id: str, i: int) -> dict[str, Any]:
        needs = [(i + j) % self.num_rules for j in range(self.needs_per_example)]
        return {"id": ex_id, "needs": needs}

    @property
    def seed_candidate(self) -> dict[str, str]:
        """A candidate with no rule in any component."""
        return {name: f"Solve the task ({name})." for name in self.components}

    def solved_candidate(self) -> dict[str, str]:
        """A candidate holding every rule: it scores 1.0 everywhere."""
        texts = dict(self.seed_candidate)
        for k in range(self.num_rules):
            texts[self.component_of(k)] += " " + self.rule(k)
        return texts

    def score(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        """Score without counting a call."""
        needs: list[int] = list(example["needs"])
        missing = [k for k in needs if self.rule(k) not in candidate[self.component_of(k)]]
        value = 1.0 - len(missing) / len(needs)
        if not missing:
            return Score(value, feedback="correct: every needed rule is present", output="ok")
        notes = "; ".join(f"missing {self.rule(k)} in {self.component_of(k)!r}" for k in missing)
        return Score(value, feedback=notes, output=f"wrong ({len(missing)} missing)")

    def evaluate(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        """The evaluator: counts the call, then scores."""
        with self._lock:
            self.calls += 1
        return self.score(candidate, example)

    async def aevaluate(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        """An `async def` evaluator with the same results."""
        await asyncio.sleep(0)
        return self.evaluate(candidate, example)

    def fix(self, prompt: ReflectionPrompt) -> str | None:
        """New text adding every rule the feedback names for this component, or None."""
        text = prompt.current_text
        added = False
        for line in prompt.feedback:
            for rule, comp in re.findall(r"missing (\[R\d+\]) in '([^']*)'", line):
                if comp == prompt.component and rule not in text:
                    text += " " + rule
                    added = True
        return text if added else None

    def reflect(self, prompt: str) -> str:
        """A reflection LM (``prompt -> reply``) that adds the rules named in the feedback."""
        return scripted_reflection(self.fix)(prompt)

    def proposer(
        self,
        candidate: Mapping[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components: Sequence[str],
    ) -> dict[str, str]:
        """An `instruction_proposer` doing what `reflect` does, without prompts."""
        out: dict[str, str] = {}
        for name in components:
            feedback = tuple(str(r.get("Feedback", "")) for r in reflective_dataset.get(name, []))
            view = ReflectionPrompt(
                prompt="",
                component=name,
                current_text=candidate[name],
                feedback=feedback,
                rejected=(),
            )
            new = self.fix(view)
            if new is not None:
                out[name] = new
        return out


class NoisyEvaluator:
    """A fake noisy evaluator: `score_fn`'s score, or now and then a coin flip instead.

    With probability `noise` a call ignores the true score and returns 0.0 or 1.0 at
    random (with feedback that says nothing about the task), as an unreliable judge
    would. Reproducible: the k-th call on a (candidate, example) pair draws from a hash
    of (`seed`, the candidate's texts, the example's id, k), whatever the order of the
    calls or the thread they run on. Thread-safe.

    Args:
        score_fn: ``(candidate, example) -> Score``, the noise-free score (for example
            `ToyTask.score`); examples must be mappings with an ``"id"``.
        noise: the probability that a call returns a coin flip.
        seed: varies the noise between runs.

    `calls` counts calls; `pair_calls` counts them per (candidate texts, example id).
    """

    def __init__(
        self,
        score_fn: Callable[[Mapping[str, str], Mapping[str, Any]], Score],
        *,
        noise: float = 0.3,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability, got {noise!r}")
        self.score_fn = score_fn
        self.noise = noise
        self.seed = seed
        self.calls = 0
        self.pair_calls: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _uniform(self, *parts: Any) -> float:
        blob = json.dumps([self.seed, *parts], sort_keys=True).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") / 2**64

    def __call__(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        texts = json.dumps(dict(candidate), sort_keys=True)
        pair = (texts, str(example["id"]))
        with self._lock:
            self.calls += 1
            k = self.pair_calls.get(pair, 0)
            self.pair_calls[pair] = k + 1
        if self._uniform(*pair, k, "noise") >= self.noise:
            return self.score_fn(candidate, example)
        flip = 1.0 if self._uniform(*pair, k, "flip") < 0.5 else 0.0
        return Score(flip, feedback="judged at random this time", output="?")
