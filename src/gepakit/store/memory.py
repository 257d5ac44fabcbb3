"""An in-memory `RunStore`: the default when no run_dir is given, and the test double."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from gepakit.engine.protocols import RolloutKey
from gepakit.types import Candidate, Proposal, Rollout


class MemoryStore:
    """Keeps every record in dicts. Nothing survives the process."""

    def __init__(self, shared: MemoryStore | None = None) -> None:
        self._lock = threading.Lock()
        self.rollouts: dict[RolloutKey, Rollout] = {}
        self.candidates: dict[int, tuple[Candidate, tuple[int, ...], dict[str, Any]]] = {}
        self.proposals: dict[int, Proposal] = {}
        self.steps: dict[tuple[int, int], dict[str, Any]] = {}
        self.delivery_log: list[tuple[int, int]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.shared = shared

    def own_rollout(self, key: RolloutKey) -> Rollout | None:
        return self.rollouts.get(key)

    def shared_rollout(self, key: RolloutKey) -> Rollout | None:
        return self.shared.rollouts.get(key) if self.shared is not None else None

    def put_rollout(self, rollout: Rollout) -> None:
        key: RolloutKey = (rollout.candidate_id, rollout.example_id, rollout.split)
        with self._lock:
            self.rollouts[key] = rollout
        if self.shared is not None:
            self.shared.put_rollout(rollout)

    def put_candidate(
        self, index: int, candidate: Candidate, parents: Sequence[int], info: Mapping[str, Any]
    ) -> None:
        self.candidates[index] = (candidate, tuple(parents), dict(info))

    def put_proposal(self, proposal: Proposal) -> None:
        self.proposals[proposal.index] = proposal

    def put_step_result(self, job: int, step: int, payload: Mapping[str, Any]) -> None:
        self.steps[(job, step)] = dict(payload)

    def step_result(self, job: int, step: int) -> Mapping[str, Any] | None:
        return self.steps.get((job, step))

    def put_delivery(self, seq: int, job: int, step: int) -> None:
        if seq != len(self.delivery_log):
            raise RuntimeError(f"delivery {seq} out of order (have {len(self.delivery_log)})")
        self.delivery_log.append((job, step))

    def deliveries(self) -> list[tuple[int, int]]:
        return list(self.delivery_log)

    def put_event(self, kind: str, data: Mapping[str, Any]) -> None:
        self.events.append((kind, dict(data)))
