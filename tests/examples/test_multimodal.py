"""Smoke test of examples/multimodal with scripted LMs (fakes): images flow through GEPA."""

from __future__ import annotations

import base64
from typing import Any

from .conftest import load_example
from .dspy_fakes import FunctionLM, system_text

RULE = "Name the shape exactly"


def _image_parts(messages: list[dict[str, Any]]) -> list[str]:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts += [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return parts


def test_pictures_are_real_pngs() -> None:
    example = load_example("multimodal")
    uri = example.png_data_uri("circle", "red")
    png = base64.b64decode(uri.split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"IDAT" in png


def test_multimodal_example_runs_with_images() -> None:
    example = load_example("multimodal")
    seen_images: list[int] = []

    def fake_vision(messages: list[dict[str, Any]]) -> dict[str, str]:
        """Scripted task LM: sees the picture's data URI, reads it right only with the rule."""
        uris = _image_parts(messages) or [str(m.get("content")) for m in messages]
        seen_images.append(len(_image_parts(messages)))
        for shape in example.SHAPES:
            for color in example.COLORS:
                if example.png_data_uri(shape, color) in "".join(uris):
                    if RULE in system_text(messages):
                        return {"shape": shape, "color": color}
                    return {"shape": "blob", "color": color}
        return {"shape": "?", "color": "?"}

    reflection_prompts: list[Any] = []

    def fake_reflection(prompt: Any) -> str:
        reflection_prompts.append(prompt)
        return f"```\n{RULE} (square, circle or triangle) and its colour.\n```"

    optimized, best = example.run(FunctionLM(fake_vision), fake_reflection, budget=40, threads=1)
    assert max(seen_images) >= 1  # the task LM got image parts, not text
    assert RULE in optimized.signature.instructions
    assert best == 1.0
    assert reflection_prompts
