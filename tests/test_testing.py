"""The public test doubles in `gepakit.testing`, and replaying a recorded run with them."""

from __future__ import annotations

import asyncio

import pytest

from gepakit import optimize
from gepakit.errors import LMError
from gepakit.lm.base import LM, user_message
from gepakit.testing import (
    ScriptedLM,
    ToyTask,
    fenced,
    parse_reflection_prompt,
    scripted_reflection,
)


def test_scripted_lm_is_an_lm_and_answers_in_order() -> None:
    lm = ScriptedLM(["one", "two"])
    assert isinstance(lm, LM)
    assert lm.complete(user_message("a")).text == "one"
    assert lm("b") == "two"
    with pytest.raises(LMError, match="ran out of scripted replies") as info:
        lm("c")
    assert not info.value.transient
    assert lm.prompts == ["a", "b", "c"] and lm.calls == 3


def test_scripted_lm_from_a_function_and_async() -> None:
    lm = ScriptedLM(lambda prompt: prompt.upper(), model="upper")
    completion = asyncio.run(lm.acomplete(user_message("hi")))
    assert (completion.text, completion.model) == ("HI", "upper")


def test_a_recording_fails_on_an_unseen_prompt() -> None:
    lm = ScriptedLM({"known": "reply"})
    assert lm("known") == "reply"
    with pytest.raises(LMError, match="unseen prompt"):
        lm("surprise")


def test_scripted_reflection_reads_the_default_prompt() -> None:
    seen = []

    def fn(prompt: object) -> str | None:
        seen.append(prompt)
        return None

    task = ToyTask()
    lm = ScriptedLM(scripted_reflection(fn))
    optimize(
        task.seed_candidate,
        task.trainset,
        task.valset,
        evaluator=task.evaluate,
        reflection_lm=lm,
        max_metric_calls=20,
        stop_after_no_improvement=1,
    )
    parsed = parse_reflection_prompt(lm.prompts[0])
    assert parsed.component == "instruction"
    assert parsed.current_text == task.seed_candidate["instruction"]
    assert parsed.feedback and all("missing [R" in f for f in parsed.feedback)
    with pytest.raises(ValueError, match="not a default reflection prompt"):
        parse_reflection_prompt("hello")


def test_toy_task_scores_and_fixes() -> None:
    task = ToyTask(num_rules=3, components=("a", "b"), needs_per_example=2)
    example = task.trainset[0]  # needs rules 0 (in a) and 1 (in b)
    score = task.score(task.seed_candidate, example)
    assert score.score == 0.0
    assert score.feedback == "missing [R0] in 'a'; missing [R1] in 'b'"
    assert task.score(task.solved_candidate(), example).score == 1.0
    assert task.calls == 0
    proposed = task.proposer(
        task.seed_candidate, {"a": [{"Feedback": score.feedback}], "b": []}, ["a", "b"]
    )
    assert proposed == {"a": "Solve the task (a). [R0]"}


def test_a_recorded_run_replays_exactly_and_fails_on_unseen_prompts() -> None:
    task = ToyTask(num_rules=6, components=("a", "b"), needs_per_example=2)

    def run(lm: ScriptedLM) -> dict[str, object]:
        return optimize(
            task.seed_candidate,
            task.trainset,
            task.valset,
            evaluator=task.evaluate,
            reflection_lm=lm,
            max_metric_calls=150,
        ).to_dict()

    live = ScriptedLM(task.reflect)
    first = run(live)
    recording = {p: task.reflect(p) for p in live.prompts}
    assert run(ScriptedLM(recording)) == first

    # A different task produces different prompts: the recording refuses them.
    other = ToyTask(num_rules=6, components=("a", "b"), needs_per_example=1)
    strict = ScriptedLM(recording)
    result = optimize(
        other.seed_candidate,
        other.trainset,
        other.valset,
        evaluator=other.evaluate,
        reflection_lm=strict,
        max_metric_calls=60,
    )
    failed = [p for p in result.proposals if p.decision == "failed"]
    assert failed and "unseen prompt" in failed[0].reason
    assert fenced("x") == "```\nx\n```"
