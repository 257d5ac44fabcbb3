"""Epoch-shuffled minibatch sampling over the trainset."""

from __future__ import annotations

import random
from collections.abc import Sequence


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
