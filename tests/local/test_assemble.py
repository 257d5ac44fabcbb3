"""Assembling a model from its part wheels: verified, atomic, done once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gepakit.errors import ConfigError, MissingExtraError
from gepakit.local import assemble
from gepakit.local.assemble import cache_dir, ensure_assembled, locate_parts, model_path
from gepakit.local.errors import MissingModelWheelsError, ModelIntegrityError
from gepakit.local.models import QWEN_05B, QWEN_15B, ModelSpec

FakeModel = Callable[..., ModelSpec]

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 3]


def test_assembles_parts_in_order_and_writes_marker(fake_model: FakeModel, tmp_path: Path) -> None:
    spec = fake_model(CHUNKS)
    path = ensure_assembled(spec, tmp_path / "cache")
    assert path == tmp_path / "cache" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    marker = json.loads(path.with_name("fake-model.gguf.verified.json").read_text())
    assert marker["sha256"] == spec.sha256
    assert marker["size"] == spec.size


def test_parts_are_found_through_metadata_without_import(fake_model: FakeModel) -> None:
    spec = fake_model(CHUNKS)
    paths = locate_parts(spec)
    assert [p.read_bytes() for p in paths] == CHUNKS
    assert all(p.parent.name == "data" for p in paths)


def test_second_call_skips_work(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS)
    first = ensure_assembled(spec, tmp_path)

    def fail(*_: object) -> None:
        raise AssertionError("must not rehash or rebuild a verified file")

    monkeypatch.setattr(assemble, "_sha256_file", fail)
    monkeypatch.setattr(assemble, "_assemble", fail)
    assert ensure_assembled(spec, tmp_path) == first


def test_stale_marker_rehashes_without_rebuilding(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS)
    path = ensure_assembled(spec, tmp_path)
    os.utime(path, ns=(1, 1))  # e.g. copied without preserving times

    def fail(*_: object) -> None:
        raise AssertionError("a file with the right hash must not be rebuilt")

    monkeypatch.setattr(assemble, "_assemble", fail)
    assert ensure_assembled(spec, tmp_path) == path
    assert assemble._marker_matches(path, spec)


def test_failure_midway_leaves_no_partial_file(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS)

    def crash(parts: list[Path], out: assemble._Writable) -> tuple[str, int]:
        out.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(assemble, "_copy_parts", crash)
    with pytest.raises(OSError, match="disk full"):
        ensure_assembled(spec, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_part_is_named_and_nothing_is_written(
    fake_model: FakeModel, tmp_path: Path
) -> None:
    spec = fake_model(CHUNKS)
    bad = locate_parts(spec)[1]
    bad.write_bytes(b"X" * len(CHUNKS[1]))  # same size, different bytes
    with pytest.raises(ModelIntegrityError) as info:
        ensure_assembled(spec, tmp_path / "cache")
    err = info.value
    assert err.bad_parts == (str(bad),)
    assert err.expected == spec.sha256
    assert err.got != spec.sha256
    message = str(err)
    assert str(bad) in message
    assert spec.sha256 in message
    assert err.got in message
    assert "--force-reinstall" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_cache_file_is_rebuilt_from_parts(fake_model: FakeModel, tmp_path: Path) -> None:
    spec = fake_model(CHUNKS)
    path = ensure_assembled(spec, tmp_path)
    path.write_bytes(b"garbage")
    assert ensure_assembled(spec, tmp_path).read_bytes() == b"".join(CHUNKS)


def test_corrupt_cache_file_without_wheels_says_how_to_fix(
    fake_model: FakeModel, tmp_path: Path
) -> None:
    spec = fake_model(CHUNKS, install=set())
    path = tmp_path / spec.filename
    path.write_bytes(b"garbage")
    with pytest.raises(ModelIntegrityError, match="Delete it") as info:
        ensure_assembled(spec, tmp_path)
    assert str(path) in str(info.value)
    assert "pip install 'gepakit[local]'" in str(info.value)


def test_missing_wheels_name_the_extra(fake_model: FakeModel, tmp_path: Path) -> None:
    spec = fake_model(CHUNKS, install={1})
    with pytest.raises(MissingModelWheelsError) as info:
        ensure_assembled(spec, tmp_path)
    err = info.value
    assert isinstance(err, MissingExtraError)
    assert isinstance(err, ImportError)
    assert err.extra == "local"
    assert err.missing == (
        f"{spec.parts[1].distribution}==1.0",
        f"{spec.parts[2].distribution}==1.0",
    )
    assert "pip install 'gepakit[local]'" in str(err)
    assert not (tmp_path / spec.filename).exists()


def test_env_override_selects_any_gguf(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS, install=set())
    other = tmp_path / "mine.gguf"
    other.write_bytes(b"GGUF")
    monkeypatch.setenv(spec.env_var, str(other))
    assert model_path(spec) == other


def test_env_override_to_missing_file_is_a_config_error(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS)
    monkeypatch.setenv(spec.env_var, str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigError, match=spec.env_var):
        model_path(spec)


def test_model_env_vars_are_documented_names() -> None:
    assert QWEN_05B.env_var == "GEPAKIT_LOCAL_MODEL"
    assert QWEN_15B.env_var == "GEPAKIT_LOCAL_MODEL_1_5B"


def test_cache_dir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEPAKIT_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("GEPAKIT_CACHE_DIR")
    assert cache_dir().name == "models"
    assert "gepakit" in str(cache_dir())


def test_model_path_uses_cache_dir(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(CHUNKS)
    monkeypatch.setenv("GEPAKIT_CACHE_DIR", str(tmp_path / "c"))
    assert model_path(spec) == tmp_path / "c" / "models" / spec.filename
