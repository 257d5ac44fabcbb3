"""Mask secrets (API keys, bearer tokens, URL passwords) in text before it is shown or stored."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Each pattern keeps group 1 (a harmless prefix) and masks the rest of the match.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Provider key formats: OpenAI/Anthropic (sk-, sk-ant-, sk-proj-), Groq, Hugging Face,
    # xAI, Google, GitHub and AWS access keys.
    re.compile(r"\b(sk-|gsk_|hf_|xai-|ghp_|github_pat_)[A-Za-z0-9_\-*]{8,}"),
    re.compile(r"\b(AIza)[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\b(AKIA)[0-9A-Z]{12,}"),
    # Authorization headers.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    # key=value / "api_key": "value" pairs.
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|secret|password|authorization)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{4,}"
    ),
    # Credentials in URLs: scheme://user:password@host
    re.compile(r"(://[^/\s:@]+:)[^/\s@]+(?=@)"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask anything in `text` that looks like a credential.

    Args:
        text: Any message, repr or log line.
        secrets: Exact secret values to mask as well (for keys without a known prefix).
            Values shorter than 6 characters are ignored so common words are never masked.

    Returns:
        `text` with each secret replaced by ``***`` (a known prefix such as ``sk-`` is kept).
    """
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
