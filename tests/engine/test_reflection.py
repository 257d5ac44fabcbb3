"""Reflective datasets, the built-in proposer's prompts, and callable proposers."""

from __future__ import annotations

from typing import Any

import pytest

from gepakit.engine.parsing import IDENTICAL
from gepakit.engine.prompts import HINTS_HEADER, REJECTED_HEADER, SECOND_TRY_MARK
from gepakit.engine.reflection import (
    CallableProposer,
    ReflectionRequest,
    ReflectiveProposer,
    build_reflective_dataset,
    default_feedback,
    format_examples,
    is_minor_edit,
    shared_feedback,
    without_shared_feedback,
)
from gepakit.testing import ScriptedLM, fenced, parse_reflection_prompt, scripted_reflection
from gepakit.types import Rollout


def rollout(score: float, **kw: Any) -> Rollout:
    return Rollout(candidate_id="c", example_id="e", split="train", score=score, **kw)


def test_dataset_shows_example_output_and_feedback_to_every_component() -> None:
    rs = [rollout(0.0, feedback="wrong label", output="b"), rollout(1.0, output="a")]
    data = build_reflective_dataset(rs, [{"x": 1}, {"x": 2}], ["p", "q"])
    assert data["p"] == data["q"]
    assert data["p"][0] == {"Inputs": {"x": 1}, "Generated Outputs": "b", "Feedback": "wrong label"}
    assert data["p"][1]["Feedback"] == "This answer scored 1."


def test_a_trace_per_component_gives_each_its_own_records() -> None:
    trace = {
        "p": {"inputs": "q1", "outputs": "draft", "feedback": "too long"},
        "q": [{"inputs": "i1", "outputs": "o1"}, {"inputs": "i2", "outputs": "o2"}],
    }
    data = build_reflective_dataset([rollout(0.5, trace=trace, feedback="meh")], [{}], ["p", "q"])
    assert data["p"] == [{"Inputs": "q1", "Generated Outputs": "draft", "Feedback": "too long"}]
    assert [r["Inputs"] for r in data["q"]] == ["i1", "i2"]
    assert data["q"][0]["Feedback"] == "meh"


def test_errors_become_feedback() -> None:
    assert "ValueError: boom" in default_feedback(rollout(0.0, error="ValueError: boom"))


def test_long_fields_are_truncated() -> None:
    text = format_examples([{"Inputs": "x" * 5000, "Generated Outputs": None, "Feedback": "f"}])
    assert "[truncated]" in text and len(text) < 2000


def request(**kw: Any) -> ReflectionRequest:
    fields: dict[str, Any] = {
        "candidate": {"p": "Old p.", "q": "Old q."},
        "reflective_dataset": {
            "p": [{"Inputs": 1, "Generated Outputs": 2, "Feedback": "fix p"}],
            "q": [{"Inputs": 1, "Generated Outputs": 2, "Feedback": "fix q"}],
        },
        "components": ("p",),
    }
    fields.update(kw)
    return ReflectionRequest(**fields)


def test_proposer_sends_one_prompt_per_component_and_parses_replies() -> None:
    lm = ScriptedLM([fenced("New p."), "Old q.", "Old q."])
    reply = ReflectiveProposer(lm).propose(request(components=("p", "q")))
    assert dict(reply.texts) == {"p": "New p."}
    assert "identical" in reply.reasons["q"]
    assert list(reply.prompts) == ["p", "q"]
    # The unchanged reply for q was retried once, asking only for additions.
    assert len(lm.prompts) == 3 and lm.prompts[2].startswith(SECOND_TRY_MARK)
    first = parse_reflection_prompt(lm.prompts[0])
    assert (first.component, first.current_text, first.feedback) == ("p", "Old p.", ("fix p",))
    assert REJECTED_HEADER.strip() not in lm.prompts[0]


def test_rejected_texts_are_listed_most_recent_last_and_capped() -> None:
    lm = ScriptedLM([fenced("New p.")])
    rejected = {"p": ("try 1", "try 2", "try 3", "try 4")}
    ReflectiveProposer(lm, max_rejected_shown=3).propose(request(rejected=rejected))
    assert parse_reflection_prompt(lm.prompts[0]).rejected == ("try 2", "try 3", "try 4")


def test_per_component_templates() -> None:
    lm = ScriptedLM([fenced("1"), fenced("2")])
    templates = {"p": "P-TEMPLATE {component}: {current_text} {examples}{rejected}"}
    ReflectiveProposer(lm, templates=templates).propose(request(components=("p", "q")))
    assert lm.prompts[0].startswith("P-TEMPLATE p: Old p.")
    assert parse_reflection_prompt(lm.prompts[1]).component == "q"  # the default template
    one = ScriptedLM([fenced("1")])
    ReflectiveProposer(one, templates="ALL {component}").propose(request())
    assert one.prompts == ["ALL p"]


def test_callable_proposer_checks_what_it_returns() -> None:
    def fn(candidate: dict[str, str], dataset: object, components: list[str]) -> dict[str, Any]:
        return {"p": "New p.", "q": "Old q.", "zz": "x", "r": ""}

    reply = CallableProposer(fn).propose(request(candidate={"p": "a", "q": "Old q.", "r": "c"}))
    assert dict(reply.texts) == {"p": "New p."}
    assert set(reply.reasons) == {"q", "zz", "r"}

    def not_a_dict(*args: Any) -> Any:
        return ["not a dict"]

    with pytest.raises(TypeError, match="dict of component"):
        CallableProposer(not_a_dict).propose(request())


def test_feedback_every_example_shares_is_shown_once() -> None:
    rule = "Allowed labels: a, b. The reply must be one of these labels only."
    records = [
        {"Inputs": 1, "Generated Outputs": "x", "Feedback": f"Wrong. Expected 'a'. {rule}"},
        {"Inputs": 2, "Generated Outputs": "b", "Feedback": f"Correct: the label is 'b'. {rule}"},
    ]
    assert shared_feedback(records) == (
        "Allowed labels: a, b.",
        "The reply must be one of these labels only.",
    )
    lm = ScriptedLM([fenced("New p.")])
    ReflectiveProposer(lm).propose(request(reflective_dataset={"p": records}))
    parsed = parse_reflection_prompt(lm.prompts[0])
    assert parsed.feedback == ("Wrong. Expected 'a'.", "Correct: the label is 'b'.")
    assert lm.prompts[0].count("Allowed labels: a, b.") == 1
    assert (HINTS_HEADER + rule) in lm.prompts[0]


def test_no_shared_feedback_when_it_would_empty_an_example_or_is_too_short() -> None:
    same = {"Inputs": 1, "Generated Outputs": 2, "Feedback": "The reply is far too long."}
    assert shared_feedback([same, same]) == ()  # nothing of their own would be left
    short = [
        {"Feedback": "Wrong. Expected 'a' here."},
        {"Feedback": "Wrong. Expected 'b' there."},
    ]
    assert shared_feedback(short) == ()  # "Wrong." alone is not a requirement
    assert shared_feedback([{"Feedback": "Only one example is here."}]) == ()
    assert without_shared_feedback(short, ()) == short


def test_templates_without_format_hints_keep_the_full_feedback() -> None:
    rule = "The reply must be one short word only."
    records = [{"Feedback": f"Wrong {i}. {rule}"} for i in range(2)]
    lm = ScriptedLM([fenced("1")])
    template = "T {component}: {current_text}\n{examples}{rejected}"
    ReflectiveProposer(lm, templates=template).propose(request(reflective_dataset={"p": records}))
    assert lm.prompts[0].count(rule) == 2
    lm = ScriptedLM([fenced("1")])
    ReflectiveProposer(lm, share_feedback=False).propose(request(reflective_dataset={"p": records}))
    assert lm.prompts[0].count(rule) == 2 and HINTS_HEADER not in lm.prompts[0]


def test_texts_that_paste_the_examples_are_rejected() -> None:
    pasted = "Classify it.\nInput: hi\nGenerated Output: greet\nFeedback: Correct."
    lm = ScriptedLM([fenced(pasted), fenced("Classify it. **Feedback**: none")])
    reply = ReflectiveProposer(lm).propose(request())
    assert not reply.texts and "copies the examples" in reply.reasons["p"]
    # Allowed when the current text already has such lines (the task may need them).
    reply = ReflectiveProposer(lm).propose(request(candidate={"p": pasted}))
    assert dict(reply.texts) == {"p": "Classify it. **Feedback**: none"}


def test_a_reply_repeating_the_current_text_is_retried_once_for_additions() -> None:
    # The second reply repeats a line already there and adds one: only the new one is kept.
    lm = ScriptedLM(["Old p.", "Old p.\nIf the input is a question, answer no."])
    reply = ReflectiveProposer(lm).propose(request())
    assert dict(reply.texts) == {"p": "Old p.\nIf the input is a question, answer no."}
    second = reply.prompts["p"]
    assert second.startswith(SECOND_TRY_MARK) and "fix p" in second and "Old p." not in second
    assert reply.replies["p"] == "Old p.\nIf the input is a question, answer no."


def test_scripted_reflections_add_nothing_on_a_second_try() -> None:
    reflect = scripted_reflection(lambda prompt: None)
    reply = ReflectiveProposer(reflect).propose(request())
    assert not reply.texts
    assert reply.reasons["p"] == f"{IDENTICAL}; a second try added nothing"


def test_additions_that_add_nothing_new_count_as_unchanged() -> None:
    lm = ScriptedLM(["Old p.", fenced("old  P.")])
    reply = ReflectiveProposer(lm).propose(request())
    assert not reply.texts and "identical" in reply.reasons["p"]


def test_the_second_try_can_be_turned_off() -> None:
    lm = ScriptedLM(["Old p."])
    reply = ReflectiveProposer(lm, extend_template=None).propose(request())
    assert not reply.texts and len(lm.prompts) == 1


LONG = " ".join(f"Rule {i}: if the input mentions topic {i}, answer label_{i}." for i in range(8))


def test_is_minor_edit() -> None:
    assert is_minor_edit(LONG.replace("mentions topic 3", "names topic 3"), LONG)
    assert not is_minor_edit(LONG, LONG)
    assert not is_minor_edit("Classify it. Answer yes or no.", "Classify it.")
    assert not is_minor_edit("anything", "")


def test_a_minor_edit_gets_a_second_try_whose_rules_are_appended_to_it() -> None:
    edited = LONG.replace("mentions topic 3", "names topic 3")
    lm = ScriptedLM([fenced(edited), "If the input is empty, answer none."])
    reply = ReflectiveProposer(lm).propose(request(candidate={"p": LONG}))
    assert dict(reply.texts) == {"p": edited + "\nIf the input is empty, answer none."}
    assert reply.prompts["p"].startswith(SECOND_TRY_MARK)


def test_a_minor_edit_is_kept_when_the_second_try_adds_nothing() -> None:
    edited = LONG.replace("mentions topic 3", "names topic 3")
    lm = ScriptedLM([fenced(edited), fenced(edited)])
    reply = ReflectiveProposer(lm).propose(request(candidate={"p": LONG}))
    assert dict(reply.texts) == {"p": edited}
    assert reply.replies["p"] == fenced(edited)
    assert not reply.prompts["p"].startswith(SECOND_TRY_MARK)


def test_a_reply_repeating_an_older_candidate_gets_the_second_try_on_the_current_text() -> None:
    older = "Older p."
    lm = ScriptedLM([fenced(older), "If the input is empty, answer none."])
    reply = ReflectiveProposer(lm).propose(request(known={"p": frozenset({older, "Old p."})}))
    assert dict(reply.texts) == {"p": "Old p.\nIf the input is empty, answer none."}
    # When the second try adds nothing, the repeat is passed on (the engine rejects it).
    lm = ScriptedLM([fenced(older), ""])
    reply = ReflectiveProposer(lm).propose(request(known={"p": frozenset({older})}))
    assert dict(reply.texts) == {"p": older}
