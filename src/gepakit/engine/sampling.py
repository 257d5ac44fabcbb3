"""Epoch-shuffled minibatch sampling over the trainset."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol


class EpochSampler:
    """Draws minibatches of example ids, reshuffling at every epoch.

    Every example is seen once per epoch. When the remaining ids of an epoch cannot
    fill a minibatch, a new shuffled epoch is appended, so batches never repeat an id.
    """

    __slots__ = ("_ids", "_queue", "_size", "epoch")

    def __init__(self, ids: Sequence[str], size: int) -> None:
        if size < 1:
            raise ValueError(f"minibatch size must be at least 1, got {size}")
        self._ids = list(ids)
        self._size = min(size, len(self._ids))
        self._queue: list[str] = []
        self.epoch = 0

    @property
    def size(self) -> int:
        """Ids per minibatch (the requested size, capped by the trainset size)."""
        return self._size

    def next_batch(self, rng: random.Random) -> tuple[str, ...]:
        """The next minibatch of ids."""
        while len(self._queue) < self._size:
            fresh = list(self._ids)
            rng.shuffle(fresh)
            pending = set(self._queue)
            self._queue.extend(i for i in fresh if i not in pending)
            self.epoch += 1
        batch, self._queue = self._queue[: self._size], self._queue[self._size :]
        return tuple(batch)


class BatchSampler(Protocol):
    """Chooses the train example ids of each reflection minibatch.

    `size` is the most ids a batch holds (the budget keeps room for two batches).
    Called on the engine thread, in the same order live and in replay; draw any
    randomness from `rng` so a resumed run replays.
    """

    @property
    def size(self) -> int: ...

    def next_batch(self, rng: random.Random) -> tuple[str, ...]: ...


class CheckedSampler:
    """A user's sampler (an object with ``next_batch(rng)`` or a callable
    ``fn(train_ids, rng) -> ids``) whose batches are checked: 1 to `size` distinct
    trainset ids. `size` is the object's own when it has one."""

    def __init__(self, given: object, ids: Sequence[str], size: int) -> None:
        self.given = given
        self._ids = list(ids)
        self._known = set(ids)
        own = getattr(given, "size", None)
        own = own if isinstance(own, int) and not isinstance(own, bool) and own >= 1 else size
        self._size = min(own, len(self._ids))

    @property
    def size(self) -> int:
        return self._size

    def next_batch(self, rng: random.Random) -> tuple[str, ...]:
        next_batch = getattr(self.given, "next_batch", None)
        if callable(next_batch):
            got: object = next_batch(rng)
        elif callable(self.given):
            got = self.given(list(self._ids), rng)
        else:
            raise TypeError(f"batch_sampler {self.given!r} has no next_batch(rng)")
        batch = tuple(str(i) for i in got) if isinstance(got, Sequence) else ()
        unknown = [i for i in batch if i not in self._known]
        if not batch or unknown or len(batch) > self._size or len(set(batch)) < len(batch):
            raise ValueError(
                f"batch_sampler returned {got!r}; expected 1 to {self._size} distinct "
                "trainset example ids"
            )
        return batch
