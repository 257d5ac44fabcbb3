"""Tests of the built-in metrics of PromptProgram."""

from __future__ import annotations

import pytest

from gepakit.errors import ConfigError
from gepakit.programs import (
    Contains,
    ExactMatch,
    JsonField,
    Regex,
    extract_json,
    make_metric,
    normalize_answer,
)
from gepakit.types import Score

LABELS = ("add_to_playlist", "play_music", "get_weather")


@pytest.mark.parametrize(
    "reply",
    [
        "play_music",
        "  Play_Music.  ",
        '"play_music"',
        "'play_music'!",
        "```\nplay_music\n```",
        "```text\nplay_music\n```",
        "`play_music`",
        "“play_music”",
    ],
)
def test_normalize_answer_strips_decoration(reply: str) -> None:
    assert normalize_answer(reply) == "play_music"


def test_normalize_answer_collapses_inner_whitespace() -> None:
    assert normalize_answer("Play \n  Music") == "play music"


def test_exact_match_correct() -> None:
    score = ExactMatch("label", LABELS)({"label": "play_music"}, "Play_music.")
    assert score.score == 1.0
    assert score.feedback is not None and "Correct" in score.feedback
    # The allowed labels are restated on correct replies too (shown once to the
    # reflection LM as feedback every example shares).
    assert "exactly one of them and nothing else" in score.feedback
    assert ExactMatch("label")({"label": "a"}, "a").feedback == "Correct: the label is 'a'."


def test_exact_match_feedback_names_expected_reply_and_labels() -> None:
    score = ExactMatch("label", LABELS)({"label": "play_music"}, "play music please")
    assert score.score == 0.0
    fb = score.feedback or ""
    assert "Expected label 'play_music'" in fb
    assert "'play music please'" in fb
    assert "Allowed labels: add_to_playlist, play_music, get_weather." in fb
    assert "not one of the allowed labels" in fb


def test_exact_match_diagnoses_wrong_label_and_extra_text() -> None:
    metric = ExactMatch("label", LABELS)
    wrong = metric({"label": "play_music"}, "get_weather").feedback or ""
    assert "'get_weather' is the wrong label" in wrong
    extra = metric({"label": "play_music"}, "The intent is play_music.").feedback or ""
    assert "contains the right answer but also other text" in extra
    other = metric({"label": "play_music"}, "Intent: get_weather, I think").feedback or ""
    assert "mentions 'get_weather'" in other


def test_exact_match_without_labels_asks_for_exact_value() -> None:
    fb = ExactMatch()({"label": "x"}, "y").feedback or ""
    assert "exactly the expected answer" in fb


def test_long_replies_are_shortened_in_feedback() -> None:
    fb = ExactMatch()({"label": "x"}, "word " * 500).feedback or ""
    assert len(fb) < 400
    assert "..." in fb


def test_missing_answer_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="answer_field"):
        ExactMatch("intent")({"label": "x"}, "x")


def test_contains() -> None:
    assert Contains()({"label": "Paris"}, "The capital is paris.").score == 1.0
    miss = Contains()({"label": "Paris"}, "Lyon")
    assert miss.score == 0.0
    assert "'Paris'" in (miss.feedback or "")


def test_regex_uses_example_pattern_or_fixed_pattern() -> None:
    assert Regex()({"label": r"^\d{3}$"}, "123").score == 1.0
    assert Regex()({"label": r"^\d{3}$"}, "12").score == 0.0
    fixed = Regex(pattern=r"answer: \w+")
    assert fixed({}, "final answer: yes").score == 1.0
    assert "answer: \\\\w+" in (fixed({}, "yes").feedback or "")


@pytest.mark.parametrize(
    "reply",
    [
        '{"label": "play_music"}',
        '```json\n{"label": "Play_Music"}\n```',
        'Sure! {"label": "play_music", "why": "music"} Done.',
    ],
)
def test_json_field_parses_json_in_replies(reply: str) -> None:
    assert JsonField(labels=LABELS)({"label": "play_music"}, reply).score == 1.0


def test_json_field_format_errors_name_the_expected_shape() -> None:
    metric = JsonField(answer_field="label", key="intent")
    bad = metric({"label": "play_music"}, "play_music")
    assert bad.score == 0.0
    assert '{"intent": "<intent>"}' in (bad.feedback or "")
    assert "not valid JSON" in (bad.feedback or "")
    missing = metric({"label": "play_music"}, '{"label": "play_music"}')
    assert "no key 'intent'" in (missing.feedback or "")
    wrong = metric({"label": "play_music"}, '{"intent": "get_weather"}')
    assert wrong.score == 0.0
    assert "Expected label 'play_music'" in (wrong.feedback or "")


def test_extract_json_raises_value_error() -> None:
    with pytest.raises(ValueError, match="no valid JSON"):
        extract_json("no json here {")


def test_make_metric() -> None:
    assert isinstance(make_metric("exact_match", labels=LABELS), ExactMatch)
    assert isinstance(make_metric("contains"), Contains)
    assert isinstance(make_metric("regex"), Regex)
    assert isinstance(make_metric("json_field"), JsonField)

    def custom(example: object, reply: str) -> Score:
        return Score(1.0)

    assert make_metric(custom) is custom
    with pytest.raises(ConfigError, match="unknown metric 'f1'"):
        make_metric("f1")
