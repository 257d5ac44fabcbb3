"""Test-wide settings: no test may reach the network."""

from __future__ import annotations

import os

# LiteLLM (pulled in by dspy) fetches a model price map from GitHub on import
# unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
