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


class InfrastructureError(GepakitError):
    """A rollout failed for a reason outside the candidate: the LM server is unreachable,
    timed out or kept failing after retries (a transient `LMError`, a connection error).

    It is not a result: the rollout is not recorded and costs no metric call, the run
    stops dispatching, and a resume with the same run_dir runs the rollout again.
    """

    def __init__(self, message: str, *, example_id: str | None = None) -> None:
        super().__init__(message)
        self.example_id = example_id


_INFRA_NAMES = frozenset(
    {
        "APIConnectionError",
        "APITimeoutError",
        "InternalServerError",
        "ServiceUnavailableError",
        "RateLimitError",
        "Timeout",
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "RemoteProtocolError",
    }
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) is an LM or network outage.

    True for a transient `LMError` (raised once retries ran out), `ConnectionError`,
    and the connection, timeout, 5xx and rate-limit errors of the openai, httpx and
    LiteLLM clients (matched by class name: no SDK is imported). A bare `TimeoutError`
    is not one: evaluators raise it for candidates that run too long.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        if isinstance(current, InfrastructureError):
            return True
        if isinstance(current, LMError):
            return current.transient
        if isinstance(current, ConnectionError):
            return True
        if any(cls.__name__ in _INFRA_NAMES for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


class RunInterrupted(KeyboardInterrupt):
    """The first Ctrl-C broke off a blocking call on the main thread (an inline rollout or
    proposal): the call has no result, the run stops and returns what it has."""


class RunStoppedError(GepakitError):
    """The run stopped (LM outage, Ctrl-C, STOP file) before the seed candidate was
    scored, so there is no result to return. Paid rollouts are kept in the run_dir."""


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
