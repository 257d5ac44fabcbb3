"""Exception hierarchy: one base, subclasses that carry the data a caller needs."""

from __future__ import annotations


class GepakitError(Exception):
    """Base class of every error gepakit raises on purpose."""


class ConfigError(GepakitError, ValueError):
    """Invalid options or input data, detected before any LM call."""


class EvaluatorError(GepakitError):
    """The user evaluator failed on an example and `raise_on_exception` is set."""

    def __init__(self, message: str, *, example_id: str | None = None) -> None:
        super().__init__(message)
        self.example_id = example_id


class LMError(GepakitError):
    """An LM call failed for good (after retries, where the failure was transient)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.transient = transient


class StoreError(GepakitError):
    """The run store cannot be read or written."""


class SchemaVersionError(StoreError):
    """The run store was written by an incompatible version of gepakit."""


class RunInUseError(StoreError):
    """Another process holds the lock of this run directory."""


class ResumeMismatchError(ConfigError):
    """A run was resumed with a different seed, dataset or configuration."""


class MissingExtraError(GepakitError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package!r} is not installed. Install it with: pip install 'gepakit[{extra}]'"
        )
        self.package = package
        self.extra = extra
