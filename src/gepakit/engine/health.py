"""Evaluator failures: counted, warned about once per run, and a stop past a threshold.

A rollout with an ``error`` is one whose evaluator raised or returned a non-finite
score (NaN); it is scored ``failure_score``. Optimizing against such rollouts teaches
the reflection LM about a broken evaluator, not the task, so when more than
``max_error_rate`` of one minibatch or val evaluation fails the run stops with an
`EvaluatorError` that names the example and the error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gepakit.errors import EvaluatorError
from gepakit.types import Rollout

log = logging.getLogger("gepakit")

DEFAULT_MAX_ERROR_RATE = 0.5
"""Stop when more than half of a minibatch or val evaluation fails.

Half, not any: a flaky evaluator that fails now and then should not end a long run
(the failures are warned about and counted in ``Result.evaluator_errors``), but one
that fails on most examples is broken, and optimizing against it wastes the budget.
"""


class ErrorWatch:
    """Counts failed rollouts, warns on the first, stops past `max_error_rate`.

    Args:
        max_error_rate: the largest share of one evaluation's rollouts that may fail;
            None never stops.
        seed_id: the seed candidate's id: a seed val evaluation that fails everywhere
            is left to the seed check, which explains that case.
    """

    def __init__(self, max_error_rate: float | None, seed_id: str = "") -> None:
        self.max_error_rate = max_error_rate
        self.seed_id = seed_id
        self.failed: set[tuple[str, str, str]] = set()
        self.warned = False

    @property
    def count(self) -> int:
        """Distinct failed rollouts seen (a rollout reused from the cache counts once)."""
        return len(self.failed)

    def observe(self, rollouts: Sequence[Rollout], what: str) -> None:
        """Look at the rollouts of one evaluation (`what` names it in messages).

        Raises:
            EvaluatorError: more than `max_error_rate` of them failed.
        """
        failed = [r for r in rollouts if r.error]
        if not failed:
            return
        self.failed.update((r.candidate_id, r.example_id, r.split) for r in failed)
        first = failed[0]
        if not self.warned:
            self.warned = True
            log.warning(
                "the evaluator failed on example %r (%s); the rollout is scored as a "
                "failure. Warned once per run; Result.evaluator_errors counts failures.",
                first.example_id,
                first.error,
            )
        limit = self.max_error_rate
        if limit is None or len(failed) <= limit * len(rollouts):
            return
        if len(failed) == len(rollouts) and first.candidate_id == self.seed_id:
            return  # the seed check reports a seed that fails everywhere
        raise EvaluatorError(
            f"the evaluator failed on {len(failed)} of {len(rollouts)} examples of {what}, "
            f"more than max_error_rate={limit:g} allows (first error on example "
            f"{first.example_id!r}: {first.error}). Fix the evaluator "
            "(raise_on_exception=True shows the traceback), or pass max_error_rate=None "
            "to score failures as failure_score and go on.",
            example_id=first.example_id,
        )
