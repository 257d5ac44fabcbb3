"""gepakit.dspy.GEPA's default proposer behaves as dspy.GEPA 3.4.1's: general prompt, images
as image parts, no length cap; gepakit's extras (rejected texts, robust parsing, usage) on."""

from __future__ import annotations

import json
from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from gepakit.dspy import GEPA
from gepakit.engine.reflection import ReflectionRequest
from gepakit.integrations.dspy.reflection import REFLECTION_INSTRUCTIONS, DspyInstructionProposer
from gepakit.lm.usage import UsageLedger

from .dspy_helpers import RuleLM

pytestmark = [
    pytest.mark.usefixtures("dspy_isolated"),
    pytest.mark.filterwarnings("ignore:the budget of .* leaves no room:UserWarning"),
]

RECORDS = [
    {"Inputs": {"question": "2+2?"}, "Generated Outputs": {"answer": "5"}, "Feedback": "Wrong: 4."},
    {"Inputs": {"question": "3+3?"}, "Generated Outputs": {"answer": "6"}, "Feedback": "Correct."},
]


def json_lm(*texts: str) -> DummyLM:
    """A reflection LM answering in JSON, as DSPy's tests script one for the 3.4.1 proposer."""
    return DummyLM([{"new_instruction": t} for t in texts], adapter=dspy.JSONAdapter())


def propose(
    lm: Any, *, rejected: tuple[str, ...] = (), records: Any = RECORDS, max_chars: Any = None
) -> Any:
    proposer = DspyInstructionProposer(lm, ledger=UsageLedger(), max_chars=max_chars)
    request = ReflectionRequest(
        candidate={"pred": "Answer the question."},
        reflective_dataset={"pred": list(records)},
        components=("pred",),
        rejected={"pred": rejected} if rejected else {},
    )
    return proposer.propose(request)


def messages(lm: DummyLM) -> tuple[str, str]:
    sent = lm.history[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    return str(sent[0]["content"]), json.dumps(sent[1]["content"], default=str)


def test_prompt_is_general_with_no_answer_shape_and_no_length_cap() -> None:
    lm = json_lm("Add the numbers.")
    reply = propose(lm)
    assert reply.texts == {"pred": "Add the numbers."}
    system, user = messages(lm)
    assert REFLECTION_INSTRUCTIONS.splitlines()[0] in system
    for shape in ("If the input", "150 words", "at most", "small AI assistant"):
        assert shape not in system + user
    assert "Answer the question." in user and "Wrong: 4." in user and "2+2?" in user
    assert "earlier_attempts" not in system + user
    assert '"new_instruction"' in system  # JSON reply, as dspy.GEPA's built-in proposer asks


def test_a_long_instruction_is_kept_whole() -> None:
    text = " ".join(f"w{i}" for i in range(2000))
    assert propose(json_lm(text)).texts == {"pred": text}


def test_special_characters_and_inner_fences_round_trip() -> None:
    text = "If score < 5, write \"low\".\n\n```python\nprint('ok')\n```\n\nIt's done."
    assert propose(json_lm(text)).texts == {"pred": text}


def test_rejected_texts_are_shown_in_their_own_field() -> None:
    lm = json_lm("Add the two numbers exactly.")
    propose(lm, rejected=("Sum it.", "Say the sum."))
    system, user = messages(lm)
    assert "earlier_attempts" in system
    assert "Sum it." in user and "Say the sum." in user


def test_an_optional_length_budget_is_stated_and_enforced() -> None:
    lm = json_lm("x" * 30)
    out = propose(lm, max_chars=20, rejected=("Sum it.",))
    assert out.texts == {} and "30 characters, over the limit of 20" in out.reasons["pred"]
    system, user = messages(lm)
    assert "at most 20 characters" in user
    assert system.index("length_limit") < system.index("current_instruction")
    assert system.index("examples_with_feedback") < system.index("earlier_attempts")
    assert propose(json_lm("short one"), max_chars=20).texts == {"pred": "short one"}


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        ("[[ ## new_instruction ## ]]\nAdd them.\n\n[[ ## completed ## ]]", "Add them."),
        ("[[ ## improved_instruction ## ]]\nAdd them.", "Add them."),
        ("<think>easy</think>\n```\nAdd them.\n```", "Add them."),
    ],
)
def test_replies_the_adapter_cannot_parse_are_read_as_text(reply: str, text: str) -> None:
    lm = RuleLM(lambda system, user: reply)
    assert propose(lm).texts == {"pred": text}


@pytest.mark.parametrize(
    "reply", ['{"new_instruction": "Add the num', "[[ ## new_instruction ## ]]\nAdd the"]
)
def test_a_reply_cut_off_at_max_tokens_is_rejected_with_a_reason(reply: str) -> None:
    lm = RuleLM(lambda system, user: reply, finish_reason="length")
    out = propose(lm)
    assert out.texts == {}
    assert "cut off" in out.reasons["pred"] and "max_tokens" in out.reasons["pred"]
    assert out.replies["pred"].startswith(reply[:10])


@pytest.mark.parametrize("reply", ['{"new_instruction": }', '{"new_instruction": ""}', "  "])
def test_an_empty_or_broken_reply_is_rejected(reply: str) -> None:
    out = propose(RuleLM(lambda system, user: reply))
    assert out.texts == {} and out.reasons["pred"]


def test_unchanged_text_is_rejected() -> None:
    out = propose(json_lm("Answer the question."))
    assert out.texts == {} and "identical" in out.reasons["pred"]


def test_reflection_calls_reach_the_usage_ledger() -> None:
    ledger = UsageLedger()
    proposer = DspyInstructionProposer(
        RuleLM(lambda s, u: {"new_instruction": "x y"}), ledger=ledger
    )
    request = ReflectionRequest(
        candidate={"pred": "old"}, reflective_dataset={"pred": RECORDS}, components=("pred",)
    )
    proposer.propose(request)
    usage = ledger.usage("reflection")
    assert usage.calls == 1 and usage.prompt_tokens == 10


def count_image_parts(obj: Any) -> int:
    if isinstance(obj, dict):
        own = 1 if obj.get("type") == "image_url" else 0
        return own + sum(count_image_parts(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(count_image_parts(v) for v in obj)
    return 0


def test_images_reach_the_reflection_lm_as_image_parts() -> None:
    """DSPy's test_reflection_lm_gets_structured_images, with a budget that fits a proposal."""
    student = dspy.Predict("image: dspy.Image -> label: str")
    image = dspy.Image("https://example.com/test.jpg")
    example = dspy.Example(image=image, label="dog").with_inputs("image")
    reflection = json_lm("Look at the animal's ears.", "Look closer.", "Look again.")
    task = DummyLM([{"label": "cat"}] * 20)
    gepa = GEPA(
        metric=lambda gold, pred, trace=None, pred_name=None, pred_trace=None: 0.3,
        max_metric_calls=4,  # seed on val, parent and child minibatch, child on val
        reflection_lm=reflection,
    )
    with dspy.context(lm=task):
        gepa.compile(student, trainset=[example], valset=[example])
    assert reflection.history, "the reflection LM was called"
    sent = reflection.history[0]["messages"]
    assert count_image_parts(sent) == 1
    assert "CUSTOM-TYPE-START-IDENTIFIER" not in json.dumps(sent, default=str)
    assert "https://example.com/test.jpg" in json.dumps(sent, default=str)
