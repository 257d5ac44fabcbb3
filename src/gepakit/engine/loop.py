"""The driver: runs jobs concurrently, keeps the budget exact, records and replays.

Every result sent into a job is a *delivery*. Live deliveries are logged in order;
a resumed run first replays the logged deliveries from the store (rollouts and
proposer replies come from the store, nothing is paid twice), which rebuilds the
exact engine state, and then continues live.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from gepakit.engine.draws import Draws, public, public_id
from gepakit.engine.health import ErrorWatch
from gepakit.engine.lazy import resolve_lazy_feedback
from gepakit.engine.protocols import EventSink, Executor, RolloutKey, RunStore
from gepakit.engine.reflection import Proposer, ProposerReply
from gepakit.engine.state import EngineState
from gepakit.engine.steps import (
    Await,
    Evaluate,
    Job,
    Propose,
    Request,
    merge_job,
    reflective_job,
    seed_job,
)
from gepakit.engine.stopping import Clock, StopView, Timeout
from gepakit.errors import (
    EvaluatorError,
    InfrastructureError,
    LMError,
    RunInterrupted,
    StoreError,
    is_infrastructure_failure,
)
from gepakit.textsafe import for_terminal
from gepakit.types import Candidate, Example, Proposal, Rollout, Split

log = logging.getLogger("gepakit")

RolloutFn = Callable[[Candidate, Example, Split], Any]
BatchFn = Callable[[Candidate, Sequence[Example], Split, bool], Sequence[Rollout]]
"""`BatchEvaluator.evaluate_batch`: (candidate, examples, split, capture_traces) -> rollouts."""
MAX_INFRA_RETRIES = 2
MAX_FREE_PROPOSALS = 25
MAX_FAILED_PROPOSALS = 5
ABANDON_AFTER = 2.0
"""Seconds in-flight rollouts and proposals get after a stop request before the driver
stops waiting for them (they are not recorded; a resume runs them again)."""
LIVE_LOSS = 0.1
"""Share of proposals the live number of proposals in flight may expect to lose to
stale parents (`Driver._live_k`). With 0.1, K=4 against K=1 at equal metric calls stays
within about one SE on the keyword task whether edits rebase or every proposal rewrites
the text (`benchmarks/gepa_compare.py kquality`, 40 seeds)."""


@dataclass(slots=True)
class _JobRun:
    id: int
    gen: Job
    step: int = 0
    pending: Request | None = None
    slots: list[Rollout | None] = field(default_factory=list)
    outstanding: int = 0
    dispatched: bool = False
    used_at_start: int = 0
    claim: tuple[int, int, bool] | None = None  # replay: (units, hits, reserved ok)
    drawn: Evaluate | None = None  # the pending request as draws (engine/draws.py)


@dataclass(slots=True)
class _Flight:
    key: RolloutKey
    candidate: Candidate
    example: Example
    waiters: list[tuple[_JobRun, int]]
    attempts: int = 0
    future: Any = None


class Driver:
    """Runs an `EngineState` to completion with the given services."""

    def __init__(
        self,
        state: EngineState,
        *,
        run_rollout: RolloutFn,
        executor: Executor,
        proposer: Proposer | None,
        proposer_executor: Executor,
        store: RunStore,
        sink: EventSink,
        stop_requested: Callable[[], bool] = lambda: False,
        clock: Clock | None = None,
        failure_score: float = 0.0,
        run_batch: BatchFn | None = None,
        usage: Callable[[], tuple[int, float]] | None = None,
    ) -> None:
        self.state = state
        self.run_rollout = run_rollout
        self.run_batch = run_batch
        self.failure_score = failure_score
        self.executor = executor
        self.proposer = proposer
        self.proposer_executor = proposer_executor
        self.store = store
        self.sink = sink
        self.stop_requested = stop_requested
        self.clock = clock or Clock()
        self.usage = usage  # () -> (reflection LM calls, USD cost) from the usage ledger
        self.running: dict[int, _JobRun] = {}
        self.consumed: dict[RolloutKey, Rollout] = {}
        self.flights: dict[RolloutKey, _Flight] = {}
        self.awaiting: dict[int, str] = {}  # job id -> candidate id it awaits
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.replay: deque[tuple[int, int]] = deque()
        self.claimed: set[RolloutKey] = set()  # replay's stand-in for `flights`
        self.claims: dict[int, _JobRun] = {}  # replayed requests budgeted, in issue order
        self.seq = 0
        self.live = True  # False while a logged delivery is being replayed
        self.recorded_candidates = 0
        self.seed_started = False
        self.halted = False
        self.aborting: BaseException | None = None
        # Set on the thread whose store write failed: no rollout is dispatched after it.
        self.store_failure: BaseException | None = None
        self.session_limit = state.budget.limit
        self.limits: deque[tuple[int, int]] = deque()  # (deliveries before it, limit)
        self.n_limits = 0
        self.replay_only = False
        self.errors = ErrorWatch(state.config.max_error_rate, state.seed_candidate.id)
        self.halted_at = 0.0
        self.abandoned = 0  # in-flight work given up on after a stop request
        self.draws = Draws(state.config.eval_repeats, state.config.reuse_evaluations)
        # Rollouts handed to the executor and not finished yet, and those held back
        # while it is busy (minibatch rollouts go first; see `_launch`).
        self.window: int | None = getattr(executor, "workers", None) if run_batch is None else None
        self.submitted = 0
        self.held: tuple[deque[_Flight], deque[_Flight]] = (deque(), deque())
        # Reflective proposals accepted or rejected, accepted, and proposals looked at.
        self.tested = (0, 0, 0)
        self.told_rewrites = False  # logged once that rewrites keep the live K down

    # -- public --------------------------------------------------------------

    def run(self, *, replay_only: bool = False) -> None:
        """Replay the store's history, then (unless `replay_only`) continue live."""
        self.replay = deque(self.store.deliveries())
        self.replay_only = replay_only
        self._load_limits()
        if not self.replay and not replay_only:
            self._session_limit(0)
        while True:
            if not self.halted and self.aborting is None:
                self._fill()
            if not self.running:
                break
            if self.replay:
                self._replay_one()
                if not self.replay and not replay_only:
                    self._go_live()
                continue
            if replay_only:
                break
            self._wait_live()
            if self.aborting is not None and not self._outstanding():
                raise self.aborting
        if self.halted and self.state.stop_reason is None:
            self.state.stop_reason = "stopped on request"
        if replay_only:
            self.state.budget.extend(self.session_limit)

    # -- budget limits across sessions ----------------------------------------

    def _load_limits(self) -> None:
        """Replay each session under the budget limit it ran with.

        A resumed run may have a larger budget; the decisions an earlier session made
        near its end (how much of a child's valset fit) must replay as they were. Each
        session records its limit and the number of deliveries before it took effect
        (proposer-reply slots of job -1, which no real job uses).
        """
        k = 0
        while (seg := self.store.step_result(-1, k)) is not None:
            self.limits.append((int(seg["at"]), int(seg["limit"])))
            k += 1
        self.n_limits = k
        while self.limits and self.limits[0][0] == 0:
            self.state.budget.extend(self.limits.popleft()[1])

    def _session_limit(self, at: int) -> None:
        """Going live after `at` replayed deliveries (before the last one is delivered):
        this session's limit takes effect, and is recorded for later replays."""
        budget = self.state.budget
        if self.n_limits and budget.limit == self.session_limit:
            return
        # A store without limits was written by one session, or by an older version.
        at = at if self.n_limits else 0
        self.store.put_step_result(-1, self.n_limits, {"at": at, "limit": self.session_limit})
        self.n_limits += 1
        if budget.limit != self.session_limit:
            self._switch_limit(self.session_limit)

    def _switch_limit(self, limit: int) -> None:
        """A new limit mid-replay: budget the waiting requests again, in issue order."""
        self.state.budget.extend(limit)
        for other in self._release_claims():
            if isinstance(other.pending, Evaluate):
                self._claim(other, other.pending)

    def _replayed_limit(self) -> None:
        """Replay of an earlier session going live with a new limit: do as it did."""
        while self.limits and self.limits[0][0] == self.seq + 1:
            self._switch_limit(self.limits.popleft()[1])

    # -- starting jobs -------------------------------------------------------

    def _live_k(self) -> int:
        """Proposals to keep in flight: up to max_concurrent_proposals, fewer while many
        proposals are accepted or while the proposer rewrites whole texts.

        When a child is accepted, the proposals in flight on its parent become stale.
        With acceptance rate p about K * p of the proposals in flight are, and a stale
        child costs more than a fresh one: it is rebased onto the new candidate, which
        costs two more minibatch evaluations (`steps._rebase`), or, when its edit does
        not apply there, it is lost, where a serial run would have built it on the new
        candidate. So the live K is at most 1 / p, about one accepted child in flight
        at a time, with p = (accepted + 1) / (tested + 1) over reflective proposals (it
        starts at 1 and grows as proposals are rejected).

        An edit that rewrites the text (keeps less than half of its words in place,
        `rebase.kept_share`) applies to no other candidate, and no other edit applies
        to it. With a share r of such replies a stale child is lost with probability
        q = 1 - (1 - r)^2, and about (K - 1) * p * q of the proposals are, so K is also
        at most 1 + LIVE_LOSS / (p * q), with r = rewrites / (replies + 1) (it starts
        at 0). A proposer that edits in place keeps the first bound only; one that
        rewrites whole texts (as LMs asked for a new instruction often do) keeps K
        near 1 unless almost every proposal is rejected.

        While a child that passed its minibatch test is being validated and no
        proposal builds on it yet, one more is allowed: it starts from that child
        (`steps._speculative_parent`), so its minibatch and reflection overlap the
        valset pass, which a serial run would wait for. The value depends only on
        finished proposals, the replies counted by their jobs and the children in
        validation, so replay computes the same value.
        """
        k = self.state.config.max_concurrent_proposals
        if k == 1:
            return 1
        st = self.state
        rate = self._acceptance()
        live = min(k, int(1 / rate))
        local, rewrote = st.edits
        if rewrote:
            r = rewrote / (local + rewrote + 1)
            share = 1 - (1 - r) ** 2
            bound = 1 + int(LIVE_LOSS / (rate * share) + 1e-9)
            if bound < live and not self.told_rewrites:
                self.told_rewrites = True
                log.info(
                    "max_concurrent_proposals=%d: running %d at once for now; %d of the "
                    "proposer's %d replies rewrote the text, and a stale child's rewrite "
                    "cannot be carried over to a newer candidate (docs/guides/scaling.md)",
                    k,
                    bound,
                    rewrote,
                    local + rewrote,
                )
            live = min(live, bound)
        live = max(1, live)
        if live < k and any(c not in st.speculated for c in st.in_validation):
            live += 1  # pipelining: build on the child in validation meanwhile
        return live

    def _acceptance(self) -> float:
        """(accepted + 1) / (tested + 1) over reflective proposals: 1 at first, falling
        as proposals are rejected."""
        done, accepted, seen = self.tested
        for p in self.state.proposals[seen:]:  # counted once each: O(1) per call
            if p.kind == "reflection" and p.decision in ("accepted", "rejected"):
                done += 1
                accepted += p.decision == "accepted"
        self.tested = (done, accepted, len(self.state.proposals))
        return (accepted + 1) / (done + 1)

    def _fill(self) -> None:
        while len(self.running) < self._live_k():
            job = self._next_job()
            if job is None:
                return
            jr = _JobRun(self.state.next_job_id, job, used_at_start=self.state.budget.spent)
            self.state.next_job_id += 1
            self.running[jr.id] = jr
            self._advance(jr, None, first=True)

    def _next_job(self) -> Job | None:
        st = self.state
        if not self.seed_started:
            self.seed_started = True
            return seed_job(st)
        if not st.candidates or st.stop_reason is not None:
            return None
        if not self.replay and self._should_stop():
            return None
        # Calls the running jobs may still ask for stay free: a new job only gets what
        # is left after them (with one job at a time nothing is running here). That is
        # each one's next request, plus, for a proposal whose child is not tested yet,
        # its valset pass times the acceptance rate (`steps.reflective_job`). Measured
        # with `gepa_compare.py kquality` (40 seeds): a fifth to a half fewer proposals
        # reflect and then find no calls left to test their child, at the same scores.
        n = self.draws.repeats  # metric calls per example evaluated
        need = sum(st.job_need.get(j, 0) for j in self.running)
        maybe = sum(st.job_maybe.get(j, 0) for j in self.running)
        free = st.budget.available - n * (need + int(maybe * self._acceptance()))
        job_id = st.next_job_id
        if st.merges_due > 0 and st.merge_blocked_at != len(st.candidates):
            sub = min(len(st.val_ids), st.config.merge_subsample_size)
            if free >= n * sub:
                job = merge_job(st, job_id)  # takes a due chance when a merge is tried
                if job is not None:
                    return job
                st.merge_blocked_at = len(st.candidates)  # look again after a new candidate
        mb = st.sampler.size
        if free < 2 * mb * n:
            if not self.running:
                times = f" x eval_repeats {n}" if n > 1 else ""
                st.stop_reason = (
                    f"budget exhausted: {st.budget.available} metric calls left, fewer than "
                    f"a minibatch step needs ({2 * mb * n}: 2 x minibatch {mb}{times})"
                )
            return None
        return reflective_job(st, job_id)

    def _should_stop(self) -> bool:
        st = self.state
        if self.stop_requested():
            self._halt()
            return True
        calls, cost = self.usage() if self.usage is not None else (0, 0.0)
        view = StopView(
            metric_calls=st.budget.spent,
            best_score=st.best_score,
            num_candidates=len(st.candidates),
            proposals=len(st.proposals),
            proposals_since_improvement=st.proposals_since_improvement,
            elapsed=self.clock.elapsed(),
            reflection_calls=max(st.reflection_calls, calls),
            cost_usd=cost,
        )
        for cond in st.config.stop_conditions:
            reason = cond.check(view)
            if reason:
                st.stop_reason = reason
                return True
        return False

    def _timed_out(self) -> bool:
        """Whether a `Timeout` passed (after the seed): stop before a new valset pass."""
        st = self.state
        if not st.candidates:
            return False
        timeouts = [c for c in st.config.stop_conditions if isinstance(c, Timeout)]
        if not timeouts:
            return False
        elapsed = self.clock.elapsed()
        for cond in timeouts:
            if elapsed >= cond.seconds:
                if st.stop_reason is None:
                    st.stop_reason = f"timeout of {cond.seconds:g}s reached"
                return True
        return False

    # -- advancing jobs ------------------------------------------------------

    def _advance(self, jr: _JobRun, result: Any, *, first: bool = False) -> None:
        try:
            req = next(jr.gen) if first else jr.gen.send(result)
        except StopIteration as stop:
            self._finish(jr, stop.value)
            return
        if not first:
            jr.step += 1
        jr.pending, jr.dispatched = req, False
        if not self.replay:
            self._dispatch(jr)
        elif isinstance(req, Evaluate):
            self._claim(jr, req)

    def _deliver(self, jr: _JobRun, result: Any, *, live: bool) -> None:
        req = jr.pending
        if isinstance(req, Evaluate) and isinstance(result, list):
            what = "a minibatch" if req.split == "train" else "a val evaluation"
            draws = result if self.draws.trivial else [public(r) for r in result]
            self.errors.observe(draws, f"{what} of candidate {req.candidate.id[:12]}")
            self.state.evaluator_errors = self.errors.count
            result = self.draws.fold(jr.id, req, result)
            if live and not self.draws.trivial:
                for folded in result:
                    self.sink.rollout_finished(folded)
        if live:
            self.store.put_delivery(self.seq, jr.id, jr.step)
        self.seq += 1
        self.live = live
        self._advance(jr, result)
        self._record_candidates(live)
        if live:
            self._release_awaiting()

    def _release_awaiting(self) -> None:
        """Queue the result of every `Await` whose candidate is now settled."""
        for job_id, cid in list(self.awaiting.items()):
            st = self.state
            if cid not in st.in_validation and cid != st.commit_turn and job_id in self.running:
                del self.awaiting[job_id]
                jr = self.running[job_id]
                self.events.put(("ready", job_id, jr.step, self.state.index_of.get(cid)))

    def _finish(self, jr: _JobRun, proposal: Proposal | None) -> None:
        del self.running[jr.id]
        st = self.state
        st.job_need.pop(jr.id, None)
        st.job_maybe.pop(jr.id, None)
        if proposal is None:
            return
        st.proposals.append(proposal)
        # Only a child that just became the best resets patience; an accepted child
        # scoring below the best counts as a proposal without improvement.
        new_best = proposal.decision == "accepted" and st.best_idx >= 0
        new_best = new_best and st.candidates[st.best_idx].id == proposal.child_id
        if not new_best:
            st.proposals_since_improvement += 1
        # A stall is a proposal that neither paid a metric call nor proposed a text not
        # seen before in this run (children served from a warm shared cache are not).
        new_text = proposal.child_id is not None and proposal.child_id not in st.seen_children
        if proposal.child_id is not None:
            st.seen_children.add(proposal.child_id)
        paid = st.budget.spent != jr.used_at_start
        st.free_streak = 0 if paid or new_text else st.free_streak + 1
        st.failed_streak = st.failed_streak + 1 if proposal.decision == "failed" else 0
        if st.failed_streak >= MAX_FAILED_PROPOSALS and st.stop_reason is None:
            st.stop_reason = (
                f"the proposer failed {MAX_FAILED_PROPOSALS} times in a row (last: "
                f"{proposal.reason}); check the reflection LM's configuration and availability"
            )
        if st.free_streak >= MAX_FREE_PROPOSALS and st.stop_reason is None:
            best = st.val_scores[st.best_idx] if st.best_idx >= 0 else {}
            whole = len(best) == len(st.val_ids)  # perfect on a few examples is not solved
            if whole and all(v >= st.config.perfect_score for v in best.values()):
                st.stop_reason = (
                    f"solved: candidate {st.best_idx} reaches the perfect score on every val "
                    "example, and further proposals found nothing to fix"
                )
            else:
                st.stop_reason = (
                    f"stalled: {MAX_FREE_PROPOSALS} proposals in a row used no metric call "
                    "and proposed no new text (parents perfect on their minibatch, or "
                    "children that repeat known texts)"
                )
        self.store.put_proposal(proposal)
        if self.live:
            self.store.put_event(
                "proposal", {"index": proposal.index, "decision": proposal.decision}
            )
            self.sink.proposal_finished(proposal)

    def _record_candidates(self, live: bool) -> None:
        st = self.state
        while self.recorded_candidates < len(st.candidates):
            i = self.recorded_candidates
            self.recorded_candidates += 1
            info = {
                "origin": st.origins[i],
                "val_score": st.aggregate[i],
                "discovery_calls": st.discovery_calls[i],
            }
            if len(st.val_scores[i]) != len(st.val_ids):  # evaluated on part of the valset
                info["val_ids"] = [e for e in st.val_ids if e in st.val_scores[i]]
            first = self.draws.first_draws(st.candidates[i].id, list(st.val_scores[i]))
            if first:  # without reuse: the val draws its scores came from
                info["val_draws"] = first
            self.store.put_candidate(i, st.candidates[i], st.parents[i], info)
            if live:
                self.sink.candidate_added(i, st.candidates[i], st.aggregate[i])
                if st.best_idx == i:
                    self.store.put_event("new_best", {"index": i, "score": st.aggregate[i]})
                    self.sink.new_best(i, st.aggregate[i])

    # -- fulfilling requests -------------------------------------------------

    def _plan_eval(self, req: Evaluate) -> tuple[list[Rollout | None], list[int], list[int], int]:
        """Classify each example: known result, owned (paid earlier), or to run."""
        slots: list[Rollout | None] = []
        owned: list[int] = []
        to_run: list[int] = []
        hits = 0
        for k, eid in enumerate(req.example_ids):
            key: RolloutKey = (req.candidate.id, eid, req.split)
            got = self.consumed.get(key)
            in_flight = key in self.flights or key in self.claimed
            if got is None and not in_flight:
                got = self.store.own_rollout(key)
                if got is not None:
                    owned.append(k)
                else:
                    # Without reuse no other run's evaluation serves this one.
                    got = self.store.shared_rollout(key) if self.draws.reuse else None
                    if got is None:
                        to_run.append(k)
                    else:
                        hits += 1
            elif got is not None or in_flight:
                hits += 1
            slots.append(got)
        return slots, owned, to_run, hits

    def _dispatch(self, jr: _JobRun) -> None:
        req = jr.pending
        jr.dispatched = True
        if isinstance(req, Await):
            self.awaiting[jr.id] = req.candidate_id
            self._release_awaiting()
            return
        if isinstance(req, Propose):
            stored = self.store.step_result(jr.id, jr.step)
            if stored is not None:
                self.events.put(("propose", jr.id, jr.step, _reply_from(stored)))
                return
            if self.proposer is None:
                raise StoreError("this run cannot continue without a proposer (replay only)")
            fut = self.proposer_executor.submit(_safe_propose, self.proposer, req.request)
            fut.add_done_callback(
                lambda f, j=jr.id, s=jr.step: self.events.put(("propose", j, s, _outcome(f)))
            )
            return
        assert isinstance(req, Evaluate)
        jr.pending = self._fit(req)
        req = jr.drawn = self.draws.expand(jr.pending)
        slots, owned, to_run, hits = self._plan_eval(req)
        if to_run and req.split == "val" and self._timed_out():
            self.halted = True  # the timeout passed mid-proposal: skip the valset pass
            self.events.put(("ready", jr.id, jr.step, None))
            return
        if not self.state.budget.try_reserve(len(owned) + len(to_run)):
            self.events.put(("ready", jr.id, jr.step, None))
            return
        self.draws.hold(jr.id, req)
        self._accept_known(req, slots, owned, hits)
        jr.slots = slots
        split_examples = self.state.train if req.split == "train" else self.state.val
        new: list[_Flight] = []
        for k, eid in enumerate(req.example_ids):
            if slots[k] is not None:
                continue
            key: RolloutKey = (req.candidate.id, eid, req.split)
            flight = self.flights.get(key)
            if flight is None:
                flight = _Flight(key, req.candidate, self.draws.example(split_examples, eid), [])
                self.flights[key] = flight
                new.append(flight)
            flight.waiters.append((jr, k))
            jr.outstanding += 1
        if new and self.run_batch is not None:
            self._launch_batch(new)
        else:
            for flight in new:
                self._launch(flight)
        if jr.outstanding == 0:
            self.events.put(("ready", jr.id, jr.step, list(slots)))

    def _fit(self, req: Evaluate) -> Evaluate:
        """A partial request cut down to what the budget can pay for now.

        Free examples (known or in flight) stay; of the paid ones, a seeded shuffle
        (run seed, candidate, split) picks as many as fit (each costs its paid draws).
        Budget state is the same live and in replay at this point, so the cut is too.
        """
        if not req.partial:
            return req
        _, owned, to_run, _ = self._plan_eval(self.draws.expand(req))
        room = self.state.budget.available
        if len(owned) + len(to_run) <= room:
            return req
        cost = Counter(k // self.draws.repeats for k in owned + to_run)  # per example
        paid = sorted(cost)
        rng = random.Random(f"{self.state.config.seed}:{req.candidate.id}:{req.split}")
        rng.shuffle(paid)
        fits = 0
        while fits < len(paid) and cost[paid[fits]] <= room:
            room -= cost[paid[fits]]
            fits += 1
        dropped = set(paid[fits:])
        kept = tuple(e for k, e in enumerate(req.example_ids) if k not in dropped)
        return dataclasses.replace(req, example_ids=kept)

    def _accept_known(
        self, req: Evaluate, slots: list[Rollout | None], owned: list[int], hits: int
    ) -> None:
        budget = self.state.budget
        budget.commit(len(owned))
        budget.cache_hits += hits
        for k in owned:
            r = slots[k]
            assert r is not None
            self.consumed[(req.candidate.id, r.example_id, req.split)] = r

    def _launch(self, flight: _Flight) -> None:
        """Submit a rollout, or hold it while the executor's workers are all busy.

        Held rollouts are submitted as others finish, minibatch (train) rollouts before
        val ones: a proposal waiting for its minibatch waits for a few rollouts, not
        behind another child's whole valset, and its reflection overlaps that valset.
        Which rollouts run when does not change what is reserved or delivered in which
        order per job, so replay is unaffected.
        """
        if self.store_failure is not None:  # the store takes no writes: pay for nothing more
            self.events.put(("rollout", flight.key, None, self.store_failure))
            return
        if self.halted or self.stop_requested():  # stopping: start nothing new
            self._halt()
            self.events.put(("rollout", flight.key, None, None))
            return
        if self.window is not None and self.submitted >= self.window:
            self.held[flight.key[2] != "train"].append(flight)
            return
        self._submit(flight)

    def _submit(self, flight: _Flight) -> None:
        if self.window is not None:
            self.submitted += 1
        fut = self.executor.submit(
            self.run_rollout, flight.candidate, flight.example, flight.key[2]
        )
        flight.future = fut
        fut.add_done_callback(
            lambda f, key=flight.key: self.events.put(("rollout", key, f, self._persist(f)))
        )

    def _launch_batch(self, flights: list[_Flight]) -> None:
        """One `evaluate_batch` call for the new rollouts of one request."""
        assert self.run_batch is not None
        if self.store_failure is not None:  # the store takes no writes: pay for nothing more
            for flight in flights:
                self.events.put(("rollout", flight.key, None, self.store_failure))
            return
        if self.halted or self.stop_requested():  # stopping: start nothing new
            self._halt()
            for flight in flights:
                self.events.put(("rollout", flight.key, None, None))
            return
        first = flights[0]
        keys = [f.key for f in flights]
        split = first.key[2]
        pool = self.state.train if split == "train" else self.state.val
        examples = [pool[public_id(k[1])] for k in keys]  # draws run on their example
        fut = self.executor.submit(
            _checked_batch,
            self.run_batch,
            first.candidate,
            examples,
            split,
            split == "train",
            [k[1] for k in keys],
        )
        for flight in flights:
            flight.future = fut
        fut.add_done_callback(
            lambda f, keys=keys: self.events.put(("batch", keys, f, self._persist_batch(f)))
        )

    def _persist_batch(self, fut: Any) -> BaseException | None:
        """Store every rollout of a finished batch at once (see `_persist`)."""
        if fut.cancelled() or fut.exception() is not None:
            return None
        try:
            put_many = getattr(self.store, "put_rollouts", None)  # one commit, if it can
            if put_many is not None:
                put_many(fut.result())
            else:
                for rollout in fut.result():
                    self.store.put_rollout(rollout)
        except BaseException as exc:
            self.store_failure = self.store_failure or exc
            self._cancel_queued()
            return exc
        return None

    def _on_batch(
        self, keys: list[RolloutKey], fut: Any, store_error: BaseException | None
    ) -> None:
        """Complete each rollout of a batch as if it had run alone; retry a failed call."""
        store_error = store_error or self.store_failure
        if store_error is None and _not_run(fut):
            for key in keys:
                self._drop(key)
            return
        exc = None if store_error is not None else fut.exception()
        flights = [self.flights[k] for k in keys]
        retryable = not isinstance(exc, EvaluatorError | KeyboardInterrupt) and not self.aborting
        if exc is not None and is_infrastructure_failure(exc):  # the LM layer retried already
            retryable = False
            exc = InfrastructureError(f"batch evaluation failed: {type(exc).__name__}: {exc}")
        if exc is not None and retryable and flights[0].attempts < MAX_INFRA_RETRIES:
            for flight in flights:
                flight.attempts += 1
            log.warning("batch evaluation of %d rollouts failed (%s); retrying", len(keys), exc)
            self._launch_batch(flights)
            return
        for i, key in enumerate(keys):
            if exc is not None:  # each rollout ends as a lone one would after its retries
                self.flights[key].attempts = MAX_INFRA_RETRIES
                done: Future[Rollout] = Future()
                done.set_exception(exc)
            else:
                done = Future()
                done.set_result(fut.result()[i])
            self._on_rollout(key, done, store_error)

    def _persist(self, fut: Any) -> BaseException | None:
        """Store a finished rollout at once, on the thread that completed it.

        Recording it only when the engine thread gets to it would lose every rollout
        completed meanwhile (with the inline executor, a whole request) on a kill.
        """
        if fut.cancelled() or fut.exception() is not None:
            return None
        try:
            self.store.put_rollout(fut.result())
        except BaseException as exc:
            self.store_failure = self.store_failure or exc
            self._cancel_queued()
            return exc
        return None

    def _cancel_queued(self) -> None:
        """Cancel the rollouts not started yet (after a failed write: pay for nothing)."""
        for flight in list(self.flights.values()):
            if flight.future is not None:
                flight.future.cancel()

    def _pump(self) -> None:
        """A rollout finished: submit held ones while a worker is free (engine thread)."""
        self.submitted -= 1
        window = self.window or 0
        for held in self.held:
            while held and self.submitted < window:
                self._launch(held.popleft())

    def _drop_held(self) -> None:
        """Stopping: the held rollouts never run (engine thread)."""
        for held in self.held:
            while held:
                self.events.put(("rollout", held.popleft().key, None, None))

    def _on_rollout(self, key: RolloutKey, fut: Any, store_error: BaseException | None) -> None:
        if self.window is not None and not _never_submitted(fut):
            self._pump()
        flight = self.flights[key]
        store_error = store_error or self.store_failure
        if store_error is not None:  # the rollout is not recorded: stop the run
            self.aborting = self.aborting or store_error
            del self.flights[key]
            self._cancel_queued()
            self._drop_held()
            return
        if _not_run(fut):  # cancelled, never started, or broken off by Ctrl-C
            self._drop(key)
            return
        exc = fut.exception()
        if isinstance(exc, InfrastructureError) or (isinstance(exc, LMError) and exc.transient):
            self._infrastructure_stop(key, exc)
            return
        if exc is not None:
            if isinstance(exc, EvaluatorError | KeyboardInterrupt) or self.aborting:
                self.aborting = self.aborting or exc
                del self.flights[key]
                return
            if flight.attempts < MAX_INFRA_RETRIES:
                flight.attempts += 1
                log.warning("rollout %s failed in the executor (%s); retrying", key, exc)
                self._launch(flight)
                return
            rollout = Rollout(
                candidate_id=key[0],
                example_id=key[1],
                split=key[2],
                score=self.failure_score,
                error=f"executor failed: {exc!r}",
            )
            self.store.put_rollout(rollout)
        else:
            rollout = fut.result()
        del self.flights[key]
        self.state.budget.commit(1)
        self.consumed[key] = rollout
        if self.draws.trivial:  # else sinks get each example's fold when it is delivered
            self.sink.rollout_finished(rollout)
        self.sink.budget_update(
            self.state.budget.used, self.state.budget.limit, self.state.budget.cache_hits
        )
        for jr, k in flight.waiters:
            jr.slots[k] = rollout
            jr.outstanding -= 1
            if jr.outstanding == 0:
                self.events.put(("ready", jr.id, jr.step, list(jr.slots)))

    def _infrastructure_stop(self, key: RolloutKey, exc: BaseException) -> None:
        """An LM or network failure is not a result: record nothing, stop dispatching.

        The reserved unit goes back (no metric call is counted), the waiting jobs are
        dropped as on a stop request, and a resume runs the rollout again.
        """
        if self.state.stop_reason is None and not self.halted:
            self.state.stop_reason = (
                f"infrastructure failure, rollout not recorded: {exc}; fix it and resume "
                "with the same run_dir to retry"
            )
        self._drop(key)

    def _drop(self, key: RolloutKey) -> None:
        """Forget a rollout that has no result (not run, interrupted): the run stops."""
        del self.flights[key]
        self.state.budget.release(1)
        self._halt()

    def _halt(self) -> None:
        """Stop dispatching; what is queued is cancelled, what runs gets `ABANDON_AFTER`."""
        if not self.halted:
            self.halted = True
            self.halted_at = time.monotonic()
            self._cancel_queued()
            self._drop_held()

    def _abandon(self) -> None:
        """Stop waiting for in-flight work after a stop request (it is not recorded)."""
        proposals = sum(
            jr.dispatched and isinstance(jr.pending, Propose) for jr in self.running.values()
        )
        self.abandoned = len(self.flights) + proposals
        log.warning(
            "stopped waiting for %d rollouts and %d proposals still running %.0f s after the "
            "stop request; they are not recorded, and a resume runs them again",
            len(self.flights),
            proposals,
            ABANDON_AFTER,
        )
        self._cancel_queued()
        for held in self.held:
            held.clear()
        self.state.budget.release(len(self.flights))
        self.flights.clear()
        self.running.clear()
        self.awaiting.clear()

    # -- live and replay loops -----------------------------------------------

    def _outstanding(self) -> bool:
        return (
            bool(self.flights)
            or any(
                jr.dispatched and isinstance(jr.pending, Propose) for jr in self.running.values()
            )
            or not self.events.empty()
        )

    def _wait_live(self) -> None:
        while True:
            late = self.halted_at > 0 and time.monotonic() - self.halted_at >= ABANDON_AFTER
            if late and self.aborting is None and self._outstanding():
                self._abandon()
                return
            try:
                item = self.events.get(timeout=0.2)
            except queue.Empty:
                if not self._outstanding():
                    if self.aborting is not None:
                        return
                    if self.halted:  # only jobs awaiting dropped work are left
                        self.running.clear()
                        self.awaiting.clear()
                        return
                    raise RuntimeError("engine has running jobs but nothing in flight") from None
                if not self.halted and self.stop_requested():
                    self._halt()
                continue
            kind = item[0]
            if kind == "rollout":
                self._on_rollout(item[1], item[2], item[3])
                continue
            if kind == "batch":
                self._on_batch(item[1], item[2], item[3])
                continue
            _, job_id, step, result = item
            if isinstance(result, RunInterrupted):  # Ctrl-C broke the call off: no result
                self._halt()
                self.running.pop(job_id, None)
                return
            if kind == "propose" and _is_outage(result):  # not a reply: retried on resume
                if self.state.stop_reason is None and not self.halted:
                    self.state.stop_reason = (
                        f"infrastructure failure, reflection not recorded: {result}; fix it "
                        "and resume with the same run_dir to retry"
                    )
                self._halt()
                self.running.pop(job_id, None)
                return
            if kind == "propose":
                payload = (
                    result.to_dict()
                    if isinstance(result, ProposerReply)
                    else {"error": f"{type(result).__name__}: {result}"}
                )
                self.store.put_step_result(job_id, step, payload)
            jr = self.running[job_id]
            if self.halted or self.aborting:
                jr.pending = None
                jr.dispatched = False
                del self.running[job_id]
                return
            self._deliver(jr, result, live=True)
            return

    def _go_live(self) -> None:
        self._release_claims()
        for jr in list(self.running.values()):
            if jr.pending is not None and not jr.dispatched:
                self._dispatch(jr)

    def _replay_one(self) -> None:
        self._replayed_limit()
        if len(self.replay) == 1 and not self.replay_only:
            self._session_limit(self.seq + 1)
        job_id, step = self.replay.popleft()
        jr = self.running.get(job_id)
        if jr is None or jr.step != step or jr.pending is None:
            raise StoreError(
                f"the run history cannot be replayed at delivery {self.seq} (job {job_id}, "
                f"step {step}); the store does not match this configuration or is damaged"
            )
        req = jr.pending
        if isinstance(req, Await):
            if req.candidate_id in self.state.in_validation or (
                req.candidate_id == self.state.commit_turn
            ):
                raise StoreError(
                    f"the run history cannot be replayed at delivery {self.seq}: job {job_id} "
                    "awaits a candidate that is still in validation"
                )
            self._deliver(jr, self.state.index_of.get(req.candidate_id), live=False)
            return
        if isinstance(req, Propose):
            stored = self.store.step_result(job_id, step)
            if stored is None:
                raise StoreError(f"missing proposer reply for job {job_id} step {step}")
            self._deliver(jr, _reply_from(stored), live=False)
            return
        assert isinstance(req, Evaluate) and jr.claim is not None
        units, _, ok = jr.claim
        jr.claim = None
        del self.claims[jr.id]
        result: list[Rollout | None] | None = None
        if ok:
            req = jr.drawn or req
            result = [
                r or self._known(req, eid) for r, eid in zip(jr.slots, req.example_ids, strict=True)
            ]
            if any(r is None for r in result):
                raise StoreError(
                    f"the run history references rollouts missing from the store (job {job_id})"
                )
            self.state.budget.commit(units)
            for r in result:
                assert r is not None
                self.consumed[(req.candidate.id, r.example_id, req.split)] = r
        if not self.replay:
            # Going live: re-issue the requests that were waiting, in their original
            # order, before this delivery issues a new one (as it happened live).
            for other in self._release_claims():
                if other.pending is not None and not other.dispatched:
                    self._dispatch(other)
        self._deliver(jr, result, live=False)

    def _claim(self, jr: _JobRun, req: Evaluate) -> None:
        """Budget a replayed request when it is issued, as `_dispatch` does live.

        Reserving at issue time (and counting keys claimed by earlier undelivered
        requests as in flight) makes used + reserved, and so every budget decision
        (start a job, run an evaluation), the same in replay as it was live.
        """
        jr.pending = self._fit(req)
        req = jr.drawn = self.draws.expand(jr.pending)
        jr.slots, owned, to_run, hits = self._plan_eval(req)
        units = len(owned) + len(to_run)
        ok = self.state.budget.try_reserve(units)
        if ok:
            self.draws.hold(jr.id, req)
            self.state.budget.cache_hits += hits
            self.claimed.update((req.candidate.id, eid, req.split) for eid in req.example_ids)
        jr.claim = (units, hits, ok)
        self.claims[jr.id] = jr

    def _release_claims(self) -> list[_JobRun]:
        """Before going live: undo the claims of requests whose delivery was not logged.

        Returns their jobs in the order the requests were issued.
        """
        jobs = list(self.claims.values())
        for jr in jobs:
            assert jr.claim is not None
            units, hits, ok = jr.claim
            if ok:
                self.state.budget.release(units)
                self.state.budget.cache_hits -= hits
                self.draws.release(jr.id)
            jr.claim = None
        self.claims.clear()
        self.claimed.clear()
        return jobs

    def _known(self, req: Evaluate, example_id: str) -> Rollout | None:
        key: RolloutKey = (req.candidate.id, example_id, req.split)
        return (
            self.consumed.get(key) or self.store.own_rollout(key) or self.store.shared_rollout(key)
        )


def _checked_batch(
    run_batch: BatchFn,
    candidate: Candidate,
    examples: list[Example],
    split: Split,
    capture_traces: bool,
    draw_ids: Sequence[str],
) -> list[Rollout]:
    """Call a batch evaluator and check it kept its contract (one matching rollout each).

    The rollouts are returned under `draw_ids` (see `gepakit.engine.draws`)."""
    rollouts = list(run_batch(candidate, examples, split, capture_traces))
    if len(rollouts) != len(examples):
        raise ValueError(
            f"evaluate_batch returned {len(rollouts)} rollouts for {len(examples)} examples"
        )
    for rollout, example in zip(rollouts, examples, strict=True):
        if not isinstance(rollout, Rollout) or (
            rollout.candidate_id,
            rollout.example_id,
            rollout.split,
        ) != (candidate.id, example.id, split):
            raise ValueError(
                f"evaluate_batch returned {rollout!r} where a Rollout of candidate "
                f"{candidate.id!r} on example {example.id!r} ({split}) was expected"
            )
    return [
        r if r.example_id == did else dataclasses.replace(r, example_id=did)
        for r, did in zip(rollouts, draw_ids, strict=True)
    ]


def _is_outage(result: Any) -> bool:
    """Whether a proposer outcome is an LM outage (after retries) rather than a reply."""
    return isinstance(result, BaseException) and is_infrastructure_failure(result)


def _never_submitted(fut: Any) -> bool:
    """Whether a rollout event comes from a rollout that never reached the executor."""
    return fut is None


def _not_run(fut: Any) -> bool:
    """Whether a rollout future has no result: never started, cancelled, or interrupted."""
    return fut is None or fut.cancelled() or isinstance(fut.exception(), RunInterrupted)


def _outcome(fut: Any) -> Any:
    """A finished proposal's reply; `RunInterrupted` if Ctrl-C broke it off or it was
    cancelled. Another KeyboardInterrupt (or SystemExit) propagates, as it would inline."""
    if fut.cancelled():
        return RunInterrupted()
    exc = fut.exception()
    if isinstance(exc, RunInterrupted):
        return exc
    return fut.result()


def _safe_propose(proposer: Proposer, request: Any) -> ProposerReply | BaseException:
    try:
        dataset = resolve_lazy_feedback(request.reflective_dataset)
        return proposer.propose(dataclasses.replace(request, reflective_dataset=dataset))
    except Exception as exc:  # a failed proposal is recorded; the run goes on
        detail = for_terminal(exc, one_line=True)[:500]  # LM-controlled text
        log.warning("proposer failed: %s: %s", type(exc).__name__, detail)
        return exc


def _reply_from(payload: Mapping[str, Any]) -> ProposerReply | BaseException:
    if "error" in payload:
        return RuntimeError(str(payload["error"]))
    return ProposerReply.from_dict(payload)
