"""Reflection profiles: how the reflection LM is prompted and its reply handled.

- ``"general"`` (`gepakit.engine.profiles.general`): for capable models; the default.
- ``"compact"`` (`gepakit.engine.profiles.compact`): tuned for small local models.
- ``"auto"``: compact for the embedded ``local/...`` models (a ``"local..."`` model
  string, or an LM object from `gepakit.local`, also when wrapped), general for
  everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from gepakit.engine.profiles.compact import CompactProposer
from gepakit.engine.reflection import PromptFn, ReflectiveProposer

ReflectionStyle = Literal["auto", "general", "compact"]
REFLECTION_STYLES: tuple[str, ...] = get_args(ReflectionStyle)

__all__ = [
    "REFLECTION_STYLES",
    "ReflectionStyle",
    "is_embedded_local",
    "make_proposer",
    "resolve_style",
]


def is_embedded_local(lm: Any) -> bool:
    """Whether `lm` is an embedded local model: a ``"local"``/``"local/..."`` spec, or an
    object from `gepakit.local` (looked for through ``.inner`` wrappers)."""
    if isinstance(lm, str):
        spec = lm.strip()
        return spec == "local" or spec.startswith("local/")
    seen = 0
    while lm is not None and seen < 20:
        if type(lm).__module__.startswith("gepakit.local"):
            return True
        lm = getattr(lm, "inner", None)
        seen += 1
    return False


def resolve_style(style: str, reflection_lm: Any) -> Literal["general", "compact"]:
    """The profile `style` means for `reflection_lm` ("auto" picks one).

    Raises:
        ValueError: `style` is not one of `REFLECTION_STYLES`.
    """
    if style == "general" or style == "compact":
        return style
    if style != "auto":
        raise ValueError(f"reflection_style must be one of {REFLECTION_STYLES}, got {style!r}")
    return "compact" if is_embedded_local(reflection_lm) else "general"


def make_proposer(
    style: Literal["general", "compact"],
    prompt_fn: PromptFn,
    *,
    templates: str | Mapping[str, str] | None = None,
    max_text_chars: int | None = None,
) -> ReflectiveProposer:
    """The proposer of profile `style` (already resolved, see `resolve_style`)."""
    cls = CompactProposer if style == "compact" else ReflectiveProposer
    return cls(prompt_fn, templates=templates, max_text_chars=max_text_chars)
