"""Tests for gepakit.engine.tidy: echoes of the reflection prompt are removed, nothing else."""

from __future__ import annotations

from gepakit.engine.profiles.compact import COMPACT_TEMPLATE as DEFAULT_TEMPLATE
from gepakit.engine.tidy import drop_duplicate_lines, drop_echoes, tidy_proposal, unwrap_brackets

# A reply of the 1.5B local model to the default template (demo task), as written.
ECHOING_REPLY = (
    "<The task is to classify the intent of a given utterance. The answer must be exactly "
    "one of the allowed labels: get_weather, play_music. If the input describes a kind of "
    "input in general words, answer with the right answer. If the input is another kind of "
    "input, answer its answer.>\n"
    "\n"
    "If the input asks about the weather, answer 'get_weather'.\n"
    "If the input asks about the weather, answer 'get_weather'.\n"
    "If the input asks to play a song, answer 'play_music'."
)


def test_tidy_removes_brackets_placeholder_echoes_and_repeated_rules() -> None:
    assert tidy_proposal(ECHOING_REPLY, DEFAULT_TEMPLATE) == (
        "The task is to classify the intent of a given utterance. The answer must be exactly "
        "one of the allowed labels: get_weather, play_music.\n"
        "\n"
        "If the input asks about the weather, answer 'get_weather'.\n"
        "If the input asks to play a song, answer 'play_music'."
    )


def test_clean_text_comes_back_unchanged() -> None:
    text = (
        "Classify the intent of the utterance.\n"
        "Answer with exactly one of: get_weather, play_music.\n"
        "If the input mentions rain or temperature, answer get_weather."
    )
    assert tidy_proposal(text, DEFAULT_TEMPLATE) == text


def test_unwrap_keeps_markup_lines() -> None:
    assert unwrap_brackets("<Answer briefly and politely.>") == "Answer briefly and politely."
    assert unwrap_brackets("<answer>yes</answer>") == "<answer>yes</answer>"
    assert unwrap_brackets("Use a < b here") == "Use a < b here"


def test_drop_echoes_keeps_short_sentences_and_unrelated_lines() -> None:
    prompt = "Write one rule for each mistake above, in general words."
    text = "Write one rule for each mistake above in general words.\nBe brief.\nName the city."
    assert drop_echoes(text, prompt) == "Be brief.\nName the city."
    assert drop_echoes("Be brief.", "Be brief.") == "Be brief."  # under MIN_ECHO_WORDS


def test_drop_echoes_without_long_prompt_sentences_is_identity() -> None:
    assert drop_echoes("Anything at all goes here.", "Hi.") == "Anything at all goes here."


def test_drop_duplicate_lines_ignores_case_and_spacing_and_keeps_blank_lines() -> None:
    text = "If it rains, answer wet.\n\nif it  RAINS, answer wet.\nRule two.\n\n"
    assert drop_duplicate_lines(text) == "If it rains, answer wet.\n\nRule two.\n"


# The structured text of issue 13: a format block with a placeholder, two separators
# and repeated field labels. None of it is an echo of the compact template.
STRUCTURED = (
    "Summarize the article.\n"
    "Format:\n"
    "---\n"
    "<title>\n"
    "---\n"
    "<summary in three sentences>\n"
    "Example:\n"
    "A short example of the first kind.\n"
    "Example:\n"
    "A short example of the second kind."
)


def test_tidy_leaves_a_structured_text_unchanged() -> None:
    assert tidy_proposal(STRUCTURED, DEFAULT_TEMPLATE) == STRUCTURED
    # Also when the current text holds the same structure (the user's own format).
    assert tidy_proposal(STRUCTURED, DEFAULT_TEMPLATE, STRUCTURED) == STRUCTURED


def test_nothing_the_current_text_holds_is_tidied_away() -> None:
    own = "<Describe the input in general words here.>\nIf the input asks, answer yes.\n"
    text = own + "If the input asks, answer yes.\nIf the input is empty, answer no."
    # The bracketed line and both copies of the rule are the user's: kept as they are.
    assert tidy_proposal(text, DEFAULT_TEMPLATE, own + "If the input asks, answer yes.") == text
    # Without them in the current text, the same reply is tidied.
    assert tidy_proposal(text, DEFAULT_TEMPLATE) == (
        "Describe the input in general words here.\n"
        "If the input asks, answer yes.\n"
        "If the input is empty, answer no."
    )
