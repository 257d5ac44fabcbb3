"""Usage and cost accounting per role ("task", "reflection", ...): `UsageLedger`, `LedgerLM`."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError, LMError
from .base import LM, Completion, Message

SCHEMA_VERSION = 1

PRICES: dict[str, tuple[float, float]] = {
    # model: (USD per 1M input tokens, USD per 1M output tokens). Approximate list prices
    # at the time of writing, without cached-input or batch discounts; providers change
    # them. Override or extend with `register_price`.
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
}
"""Approximate prices, USD per 1M (input, output) tokens; override with `register_price`."""

_prices_lock = threading.Lock()


def register_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Set the price of `model` (and its dated snapshots), in USD per 1M tokens.

    Args:
        model: Model name as the provider reports it, with or without a ``provider/`` prefix.
        input_per_million: USD per 1M prompt tokens.
        output_per_million: USD per 1M completion tokens.

    Raises:
        ConfigError: A price is negative.
    """
    if input_per_million < 0 or output_per_million < 0:
        raise ConfigError(
            f"prices must not be negative, got {input_per_million}, {output_per_million}"
        )
    with _prices_lock:
        PRICES[model] = (float(input_per_million), float(output_per_million))


def lookup_price(model: str) -> tuple[float, float] | None:
    """The (input, output) price of `model` per 1M tokens, or None when unknown.

    Tries the exact name, then without a ``provider/`` prefix, then the longest table entry
    that the name extends with ``-`` (``gpt-4o-2024-08-06`` -> ``gpt-4o``).
    """
    with _prices_lock:
        table = dict(PRICES)
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in table:
            return table[name]
        matches = [k for k in table if name.startswith(k + "-")]
        if matches:
            return table[max(matches, key=len)]
    return None


def completion_cost(completion: Completion, *, local: bool = False) -> float | None:
    """USD cost of one uncached completion: the provider's figure, else the price table.

    Returns:
        0.0 for local models, None when the price of the model is unknown.
    """
    if completion.cost is not None:
        return completion.cost
    if local:
        return 0.0
    price = lookup_price(completion.model)
    if price is None:
        return None
    return (completion.prompt_tokens * price[0] + completion.completion_tokens * price[1]) / 1e6


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleUsage:
    """Counters of one role.

    `cost_usd` is None when some uncached call had an unknown price (`unpriced_calls` > 0);
    `known_cost_usd` is then the cost of the priced calls only, a lower bound.
    """

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    retries: int = 0
    known_cost_usd: float = 0.0
    unpriced_calls: int = 0

    @property
    def cost_usd(self) -> float | None:
        """Total USD cost, or None when the price of some call is unknown."""
        return None if self.unpriced_calls else self.known_cost_usd

    @property
    def requests(self) -> int:
        """Requests sent to the provider: every attempt, i.e. uncached calls plus retries."""
        return self.calls - self.cache_hits + self.retries

    def __add__(self, other: RoleUsage) -> RoleUsage:
        return RoleUsage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, including the derived `cost_usd` and `requests`."""
        return {**asdict(self), "cost_usd": self.cost_usd, "requests": self.requests}


class UsageLedger:
    """Thread-safe usage counters per role, for the run result and progress display."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"UsageLedger({self.to_dict()['roles']!r})"

    def _role(self, role: str) -> dict[str, Any]:
        if role not in self._roles:
            self._roles[role] = asdict(RoleUsage())
        return self._roles[role]

    def record(self, role: str, completion: Completion, *, local: bool = False) -> None:
        """Count one successful call; a cached completion counts as a hit and costs nothing."""
        with self._lock:
            counts = self._role(role)
            counts["calls"] += 1
            if completion.cached:
                counts["cache_hits"] += 1
                return
            counts["prompt_tokens"] += completion.prompt_tokens
            counts["completion_tokens"] += completion.completion_tokens
            cost = completion_cost(completion, local=local)
            if cost is None:
                counts["unpriced_calls"] += 1
            else:
                counts["known_cost_usd"] += cost

    def record_error(self, role: str) -> None:
        """Count one call that failed for good."""
        with self._lock:
            counts = self._role(role)
            counts["calls"] += 1
            counts["errors"] += 1

    def record_retry(self, role: str) -> None:
        """Count one retry of a transient failure."""
        with self._lock:
            self._role(role)["retries"] += 1

    def usage(self, role: str) -> RoleUsage:
        """A snapshot of the counters of `role` (zeros for a role never seen)."""
        with self._lock:
            counts = dict(self._roles.get(role) or asdict(RoleUsage()))
        return RoleUsage(**counts)

    def roles(self) -> tuple[str, ...]:
        """Roles seen so far, in first-use order."""
        with self._lock:
            return tuple(self._roles)

    def total(self) -> RoleUsage:
        """The sum over all roles."""
        total = RoleUsage()
        for role in self.roles():
            total = total + self.usage(role)
        return total

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data with a ``schema_version``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "roles": {role: self.usage(role).to_dict() for role in self.roles()},
        }

    def merge(self, other: UsageLedger) -> None:
        """Add `other`'s counters to this ledger (e.g. earlier sessions of a resumed run)."""
        for role in other.roles():
            extra = other.usage(role)
            with self._lock:
                mine = RoleUsage(**self._role(role))
                self._roles[role] = asdict(mine + extra)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageLedger:
        """Rebuild a ledger written by `to_dict`.

        Raises:
            ConfigError: Unknown schema version.
        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ConfigError(f"usage ledger schema_version {version!r} is not {SCHEMA_VERSION}")
        ledger = cls()
        known = {f.name for f in fields(RoleUsage)}
        for role, counts in data.get("roles", {}).items():
            values = {k: v for k, v in counts.items() if k in known}
            ledger._roles[str(role)] = asdict(RoleUsage(**values))
        return ledger


def _is_local(lm: Any) -> bool:
    """Whether `lm`, or an LM it wraps, declares ``is_local = True``."""
    seen = 0
    while lm is not None and seen < 32:
        if getattr(lm, "is_local", False) is True:
            return True
        lm = getattr(lm, "inner", None)
        seen += 1
    return False


def find_ledger_lm(lm: Any, ledger: UsageLedger) -> LedgerLM | None:
    """The `LedgerLM` recording into `ledger` in `lm`'s chain of wrappers, or None."""
    for _ in range(32):
        if isinstance(lm, LedgerLM) and lm.ledger is ledger:
            return lm
        lm = getattr(lm, "inner", None)
        if lm is None:
            return None
    return None


class LedgerLM:
    """Wrap an `LM` and record every call in a `UsageLedger` under `role`.

    Args:
        inner: The LM to call.
        ledger: Where to count.
        role: Role name, e.g. ``"task"`` or ``"reflection"``.
        local: Whether calls cost nothing; None infers it from ``is_local`` on the wrapped LMs.
    """

    def __init__(
        self, inner: LM, ledger: UsageLedger, role: str, *, local: bool | None = None
    ) -> None:
        self.inner = inner
        self.model = inner.model
        self.ledger = ledger
        self.role = role
        self.local = _is_local(inner) if local is None else local

    def __repr__(self) -> str:
        return f"LedgerLM({self.inner!r}, role={self.role!r})"

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Call the inner LM and record the outcome (errors are recorded and re-raised)."""
        try:
            completion = self.inner.complete(messages, **params)
        except LMError:
            self.ledger.record_error(self.role)
            raise
        self.ledger.record(self.role, completion, local=self.local)
        return completion

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Async variant of `complete`."""
        try:
            completion = await self.inner.acomplete(messages, **params)
        except LMError:
            self.ledger.record_error(self.role)
            raise
        self.ledger.record(self.role, completion, local=self.local)
        return completion


class LedgerTaps:
    """The ledgers that one LM's calls are also counted in, under one role.

    For objects that call an LM they own (`gepakit.programs.PromptProgram`'s task LM, an
    `LLMJudge`'s judge LM) and join a run's ledger when `gepakit.optimize` hands it to
    them through ``use_ledger``. Thread-safe.

    Args:
        lm: the LM whose calls are counted (its retries are counted too, when it is or
            wraps a `RetryingLM`; it is free when it is a local model).
        role: the role name, e.g. ``"task"`` or ``"judge"``.
    """

    def __init__(self, lm: Any, role: str) -> None:
        self.lm = lm
        self.role = role
        self.local = _is_local(lm)
        self._lock = threading.Lock()
        self._ledgers: list[UsageLedger] = []

    def add(self, ledger: UsageLedger | None) -> None:
        """Count the calls made from now on in `ledger` too (None or a known one: no-op)."""
        if ledger is None:
            return
        with self._lock:
            if any(known is ledger for known in self._ledgers):
                return
            self._ledgers.append(ledger)
        from .retry import find_retrying

        retrying = find_retrying(self.lm)
        if retrying is not None:  # every attempt shows in the ledger, retries too
            retrying.count_retries_in(ledger, self.role)

    def _snapshot(self) -> list[UsageLedger]:
        with self._lock:
            return list(self._ledgers)

    def record(self, completion: Completion) -> None:
        """Count one successful call in every ledger."""
        for ledger in self._snapshot():
            ledger.record(self.role, completion, local=self.local)

    def record_error(self) -> None:
        """Count one call that failed for good in every ledger."""
        for ledger in self._snapshot():
            ledger.record_error(self.role)
