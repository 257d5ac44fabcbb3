"""The compact profile (small models): shape template, shared feedback, second try, tidy."""

from __future__ import annotations

from typing import Any

from gepakit.engine.parsing import IDENTICAL
from gepakit.engine.profiles.compact import (
    COMPACT_FORMAT_TEMPLATE,
    COMPACT_TEMPLATE,
    EXTEND_FORMAT_TEMPLATE,
    HINTS_HEADER,
    SECOND_TRY_MARK,
    CompactProposer,
    is_minor_edit,
    shared_feedback,
    structured_answers,
    without_shared_feedback,
)
from gepakit.engine.reflection import ReflectionRequest
from gepakit.testing import ScriptedLM, fenced, parse_reflection_prompt, scripted_reflection


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


def test_compact_prompt_is_the_shape_template_and_unchanged_replies_get_a_second_try() -> None:
    lm = ScriptedLM([fenced("New p."), "Old q.", "Old q."])
    reply = CompactProposer(lm).propose(request(components=("p", "q")))
    assert dict(reply.texts) == {"p": "New p."}
    assert "identical" in reply.reasons["q"]
    assert lm.prompts[0].startswith(COMPACT_TEMPLATE.split("\n", 1)[0])
    assert "at most 150 words" in lm.prompts[0]
    # The unchanged reply for q was retried once, asking only for additions.
    assert len(lm.prompts) == 3 and lm.prompts[2].startswith(SECOND_TRY_MARK)
    first = parse_reflection_prompt(lm.prompts[0])
    assert (first.component, first.current_text, first.feedback) == ("p", "Old p.", ("fix p",))


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
    CompactProposer(lm).propose(request(reflective_dataset={"p": records}))
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
    CompactProposer(lm, templates=template).propose(request(reflective_dataset={"p": records}))
    assert lm.prompts[0].count(rule) == 2
    lm = ScriptedLM([fenced("1")])
    CompactProposer(lm, share_feedback=False).propose(request(reflective_dataset={"p": records}))
    assert lm.prompts[0].count(rule) == 2 and HINTS_HEADER not in lm.prompts[0]


def test_texts_that_paste_the_examples_are_rejected() -> None:
    pasted = "Classify it.\nInput: hi\nGenerated Output: greet\nFeedback: Correct."
    lm = ScriptedLM([fenced(pasted), fenced("Classify it. **Feedback**: none")])
    reply = CompactProposer(lm).propose(request())
    assert not reply.texts and "copies the examples" in reply.reasons["p"]
    # Allowed when the current text already has such lines (the task may need them).
    reply = CompactProposer(lm).propose(request(candidate={"p": pasted}))
    assert dict(reply.texts) == {"p": "Classify it. **Feedback**: none"}


def test_a_reply_repeating_the_current_text_is_retried_once_for_additions() -> None:
    # The second reply repeats a line already there and adds one: only the new one is kept.
    lm = ScriptedLM(["Old p.", "Old p.\nIf the input is a question, answer no."])
    reply = CompactProposer(lm).propose(request())
    assert dict(reply.texts) == {"p": "Old p.\nIf the input is a question, answer no."}
    second = reply.prompts["p"]
    assert second.startswith(SECOND_TRY_MARK) and "fix p" in second and "Old p." not in second
    assert reply.replies["p"] == "Old p.\nIf the input is a question, answer no."


def test_scripted_reflections_add_nothing_on_a_second_try() -> None:
    reflect = scripted_reflection(lambda prompt: None)
    reply = CompactProposer(reflect).propose(request())
    assert not reply.texts
    assert reply.reasons["p"] == f"{IDENTICAL}; a second try added nothing"


def test_additions_that_add_nothing_new_count_as_unchanged() -> None:
    lm = ScriptedLM(["Old p.", fenced("old  P.")])
    reply = CompactProposer(lm).propose(request())
    assert not reply.texts and "identical" in reply.reasons["p"]


def test_the_second_try_can_be_turned_off() -> None:
    lm = ScriptedLM(["Old p."])
    reply = CompactProposer(lm, extend_template=None).propose(request())
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
    reply = CompactProposer(lm).propose(request(candidate={"p": LONG}))
    assert dict(reply.texts) == {"p": edited + "\nIf the input is empty, answer none."}
    assert reply.prompts["p"].startswith(SECOND_TRY_MARK)


def test_a_minor_edit_is_kept_when_the_second_try_adds_nothing() -> None:
    edited = LONG.replace("mentions topic 3", "names topic 3")
    lm = ScriptedLM([fenced(edited), fenced(edited)])
    reply = CompactProposer(lm).propose(request(candidate={"p": LONG}))
    assert dict(reply.texts) == {"p": edited}
    assert reply.replies["p"] == fenced(edited)
    assert not reply.prompts["p"].startswith(SECOND_TRY_MARK)


def test_a_reply_repeating_an_older_candidate_gets_the_second_try_on_the_current_text() -> None:
    older = "Older p."
    lm = ScriptedLM([fenced(older), "If the input is empty, answer none."])
    reply = CompactProposer(lm).propose(request(known={"p": frozenset({older, "Old p."})}))
    assert dict(reply.texts) == {"p": "Old p.\nIf the input is empty, answer none."}
    # When the second try adds nothing, the repeat is passed on (the engine rejects it).
    lm = ScriptedLM([fenced(older), ""])
    reply = CompactProposer(lm).propose(request(known={"p": frozenset({older})}))
    assert dict(reply.texts) == {"p": older}


JSON_ANSWER = '{\n  "name": "Giraffe",\n  "area": "riverside area"\n}'


def test_structured_answers_are_json_fields_or_worked_solutions() -> None:
    label = {"Generated Outputs": "play_music"}
    sentence = {"Generated Outputs": "The intent of this utterance is to book a table for 3."}
    assert not structured_answers([label, sentence, {"Generated Outputs": 12}])
    assert not structured_answers([{"Generated Outputs": {"answer": "play_music"}}, label])
    assert not structured_answers([])
    assert structured_answers([label, {"Generated Outputs": JSON_ANSWER}])
    assert structured_answers([{"Generated Outputs": {"reasoning": "a, b", "answer": "2"}}])
    assert structured_answers([{"Generated Outputs": "Apples: 2.\nPears: 3.\nSo 5."}])


def test_structured_answers_get_the_format_shape_not_if_then_rules() -> None:
    records = [{"Inputs": "a pub by the river", "Generated Outputs": JSON_ANSWER,
                "Feedback": "wrong field 'area': expected 'riverside'"}]  # fmt: skip
    # The first reply hands the text back, so the second try shows its template too.
    lm = ScriptedLM(["Old p.", "Give the area as one word."])
    reply = CompactProposer(lm).propose(request(reflective_dataset={"p": records}))
    assert (
        lm.prompts[0]
        == CompactProposer(lm).render(
            request(reflective_dataset={"p": records}), "p", COMPACT_FORMAT_TEMPLATE
        )[0]
    )
    assert "If the input <" not in lm.prompts[0]
    assert "<the exact form of the answer" in lm.prompts[0]
    assert lm.prompts[1].startswith(SECOND_TRY_MARK)
    assert "If the input" not in lm.prompts[1]
    assert EXTEND_FORMAT_TEMPLATE.splitlines()[-1] in lm.prompts[1]
    assert dict(reply.texts) == {"p": "Old p.\nGive the area as one word."}


def test_label_answers_keep_the_rule_shape_and_user_templates_are_kept_as_given() -> None:
    labels = [
        {"Inputs": "play a song", "Generated Outputs": "It is about music.", "Feedback": "wrong"}
    ]
    lm = ScriptedLM([fenced("New p.")])
    CompactProposer(lm).propose(request(reflective_dataset={"p": labels}))
    assert "If the input <describes a kind of input" in lm.prompts[0]
    records = [{"Inputs": "x", "Generated Outputs": JSON_ANSWER, "Feedback": "wrong"}]
    mine = "Improve {current_text} given {examples}. Reply in a ``` block."
    lm = ScriptedLM([fenced("New p.")])
    CompactProposer(lm, templates=mine).propose(request(reflective_dataset={"p": records}))
    assert lm.prompts[0].startswith("Improve Old p. given")
