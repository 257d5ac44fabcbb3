"""Images in reflective records: found by duck typing, sent as image parts or placeholders.

A record value is an image when it is an object with a string ``url`` attribute that is
a data URI or an http(s) address (``dspy.Image`` is one), an OpenAI-style part
``{"type": "image_url", "image_url": {"url": ...}}``, or a ``data:image/...`` string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_SENTINEL = "\u27e6gepakit-image-{}\u27e7"
_SENTINEL_START = "\u27e6gepakit-image-"
_SENTINEL_END = "\u27e7"
_URL_PREFIXES = ("data:image/", "http://", "https://")


def image_url(value: Any) -> str | None:
    """The URL (or data URI) of `value` when it is an image, else None."""
    if isinstance(value, str):
        return value if value.startswith("data:image/") else None
    if isinstance(value, Mapping):
        if value.get("type") == "image_url":  # pyright: ignore[reportUnknownMemberType]
            inner: Any = value.get("image_url")  # pyright: ignore[reportUnknownMemberType]
            url = inner.get("url") if isinstance(inner, Mapping) else inner  # pyright: ignore[reportUnknownMemberType]
            return url if isinstance(url, str) else None
        return None
    if isinstance(value, (bytes, Sequence)):
        return None
    try:
        url = getattr(value, "url", None)
    except Exception:
        return None
    if isinstance(url, str) and url.startswith(_URL_PREFIXES):
        return url
    return None


def extract_images(value: Any, images: list[str]) -> Any:
    """`value` with every image replaced by a marker; the URLs are appended to `images`.

    Mappings, lists and tuples are walked; anything else is returned as it is.
    """
    url = image_url(value)
    if url is not None:
        images.append(url)
        return _SENTINEL.format(len(images))
    if isinstance(value, Mapping):
        return {k: extract_images(v, images) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, (list, tuple)):
        return [extract_images(v, images) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def describe(url: str) -> str:
    """A short text standing for an image: its address, or the type and size of a data URI."""
    if url.startswith("data:"):
        kind = url[5:].split(";", 1)[0].split(",", 1)[0] or "image"
        return f"{kind}, {len(url)} characters of inline data"
    return url if len(url) <= 200 else url[:200] + "..."


def _split(text: str) -> list[str | int]:
    """`text` cut at the markers: strings, and image numbers (1-based) where markers were."""
    pieces: list[str | int] = []
    pos = 0
    while (start := text.find(_SENTINEL_START, pos)) >= 0:
        end = text.find(_SENTINEL_END, start)
        number = text[start + len(_SENTINEL_START) : end] if end >= 0 else ""
        if not number.isdigit():
            pieces.append(text[pos : start + 1])
            pos = start + 1
            continue
        pieces.append(text[pos:start])
        pieces.append(int(number))
        pos = end + len(_SENTINEL_END)
    pieces.append(text[pos:])
    return pieces


def as_text(text: str, images: Sequence[str]) -> str:
    """`text` with each marker replaced by ``[image N: description]``."""
    out: list[str] = []
    for piece in _split(text):
        if isinstance(piece, int):
            url = images[piece - 1] if piece <= len(images) else ""
            out.append(f"[image {piece}: {describe(url)}]")
        else:
            out.append(piece)
    return "".join(out)


def as_parts(text: str, images: Sequence[str]) -> list[dict[str, Any]]:
    """OpenAI-style content parts: text parts with an ``image_url`` part at each marker."""
    parts: list[dict[str, Any]] = []
    for piece in _split(text):
        if isinstance(piece, int) and piece <= len(images):
            parts.append({"type": "text", "text": f"[image {piece}]"})
            parts.append({"type": "image_url", "image_url": {"url": images[piece - 1]}})
        elif isinstance(piece, str) and piece:
            parts.append({"type": "text", "text": piece})
    merged: list[dict[str, Any]] = []
    for part in parts:  # adjacent text parts become one
        if merged and part["type"] == "text" and merged[-1]["type"] == "text":
            merged[-1] = {"type": "text", "text": merged[-1]["text"] + part["text"]}
        else:
            merged.append(part)
    return merged
