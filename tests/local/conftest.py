"""Fake model-part wheels: installed dist-info folders on a temporary sys.path entry."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from gepakit.local.models import ModelSpec, PartSpec

FakeModel = Callable[..., ModelSpec]


def _record_hash(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def install_fake_part(site: Path, dist: str, version: str, rel_path: str, data: bytes) -> Path:
    """Lay out what pip leaves for a data wheel: the data file plus dist-info with RECORD."""
    package = dist.replace("-", "_")
    target = site / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    info = site / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "RECORD").write_text(
        f"{rel_path},{_record_hash(data)},{len(data)}\n{package}-{version}.dist-info/RECORD,,\n",
        encoding="utf-8",
    )
    return target


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    """Build a small `ModelSpec` whose parts are fake installed wheels.

    Call it with ``chunks`` (the bytes of each part) and ``install`` (which parts
    to install, default all). Each test gets unique distribution names.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    prefix = f"gepakit-fake-{tmp_path.name.replace('_', '-').lower()}-part"

    def make(chunks: list[bytes], install: set[int] | None = None) -> ModelSpec:
        parts: list[PartSpec] = []
        for i, data in enumerate(chunks, start=1):
            dist = f"{prefix}{i}"
            rel = f"{dist.replace('-', '_')}/data/part{i:02d}.bin"
            parts.append(PartSpec(distribution=dist, version="1.0", path=rel))
            if install is None or i in install:
                install_fake_part(site, dist, "1.0", rel, data)
        whole = b"".join(chunks)
        return ModelSpec(
            name="fake-model",
            filename="fake-model.gguf",
            size=len(whole),
            sha256=hashlib.sha256(whole).hexdigest(),
            parts=tuple(parts),
            env_var="GEPAKIT_TEST_FAKE_MODEL",
            n_parallel=1,
        )

    return make
