"""Make user- and LM-controlled text safe to show on a terminal or to put in a CSV cell.

Evaluator errors, feedback, LM replies and example ids can hold anything, including
terminal escape sequences (which can retitle a window, hide text, or on some terminals
inject input) and spreadsheet formulas. Everything such text passes through before it
reaches a terminal goes through `for_terminal`; every CSV cell through `for_csv`.
"""

from __future__ import annotations

import re

__all__ = ["for_csv", "for_terminal"]

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other
# two-byte escapes; then the 8-bit C1 forms (CSI U+009B, OSC U+009D).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, terminated or not
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]?"  # other escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"  # 8-bit OSC
)
# Remaining control characters: C0 except tab and newline, DEL, C1, and the bidi
# overrides that can make text read differently from what it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def for_terminal(text: object, *, one_line: bool = False) -> str:
    """`text` without escape sequences, control characters or lone surrogates.

    Args:
        text: anything; non-strings are converted with `str`.
        one_line: also turn newlines and tabs into spaces (for one-line messages).

    Returns:
        Printable text; a removed character becomes nothing, a lone surrogate "?".
    """
    s = text if isinstance(text, str) else str(text)
    s = _ESCAPES.sub("", s)
    s = _CONTROLS.sub("", s)
    s = _SURROGATES.sub("?", s)
    if one_line:
        s = " ".join(s.split())
    return s


def for_csv(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula and no terminal as an escape.

    Numbers (also as text, like "-1.5") pass unchanged. A text cell loses escape
    sequences and control characters (newlines stay) and gets a leading apostrophe when
    it starts like a formula (``=``, ``+``, ``-``, ``@``): the OWASP advice for CSV
    injection.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    s = _SURROGATES.sub("?", _CONTROLS.sub("", _ESCAPES.sub("", str(value))))
    if s.startswith(_FORMULA_START) and not _NUMBER.fullmatch(s):
        return "'" + s
    return s
