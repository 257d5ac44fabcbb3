"""Terminal and CSV sanitizing of user- and LM-controlled text."""

from __future__ import annotations

import pytest

from gepakit.textsafe import for_csv, for_terminal

HOSTILE = [
    ("\x1b]0;owned\x07title", "title"),  # OSC window title, BEL-terminated
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC hyperlink, ST-terminated
    ("\x1b[31mred\x1b[0m", "red"),  # CSI colors
    ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear screen, cursor home
    ("\x9b31mc1\x9d0;t\x07x", "c1x"),  # 8-bit CSI and OSC
    ("a\x00b\x08c\rd", "abcd"),  # NUL, backspace, carriage return
    ("\u202eevil\u202c", "evil"),  # bidi override
    ("half \udce9 emoji", "half ? emoji"),  # lone surrogate
    ("\x1bPdcs\x1b\\after", "after"),  # DCS string
    ("lone \x1b", "lone "),
]


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_for_terminal_strips_escapes(text: str, shown: str) -> None:
    assert for_terminal(text) == shown


def test_for_terminal_keeps_plain_text_and_can_flatten() -> None:
    assert for_terminal("line 1\n\tline 2 ünïcödé") == "line 1\n\tline 2 ünïcödé"
    assert for_terminal("line 1\n\tline 2", one_line=True) == "line 1 line 2"
    assert for_terminal(ValueError("bad \x1b[1mthing")) == "bad thing"


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_for_csv_defuses_formulas(start: str) -> None:
    assert for_csv(f'{start}HYPERLINK("http://x")') == f'\'{start}HYPERLINK("http://x")'


def test_for_csv_keeps_numbers_and_newlines() -> None:
    assert for_csv(-1.5) == -1.5
    assert for_csv(3) == 3
    assert for_csv(None) is None
    assert for_csv("two\nlines\x1b[31m") == "two\nlines"
    assert for_csv("\x1b[0m=1+1") == "'=1+1"
    assert for_csv("-1.5") == "-1.5" and for_csv("-2e3") == "-2e3"
    assert for_csv("-1+cmd|' /C calc'!A0") == "'-1+cmd|' /C calc'!A0"
