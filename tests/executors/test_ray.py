"""`RayExecutor`: same results as threads, objects shipped once, killed workers retried.

One local Ray instance (2 CPUs, no dashboard, its files under pytest's tmp dir) serves
every test of this module.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit.errors import MissingExtraError
from gepakit.types import Score

ray = pytest.importorskip("ray")

from gepakit.executors.ray import RayExecutor, worker_pid  # noqa: E402

pytestmark = pytest.mark.ray

NUM_RULES = 10


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Short: a Unix socket path under the temp dir must stay below ~100 bytes.
    temp_dir = tmp_path_factory.mktemp("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
        _temp_dir=str(temp_dir),
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}},
    )
    try:
        yield
    finally:
        ray.shutdown()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RuleTask:
    """A picklable deterministic task: example i needs rules i and i+1 in the text.

    Every call appends one line to `log` (a file, shared by all worker processes),
    so the test can count attempts. The first call on `trap_id` writes its worker pid
    to `trap` and hangs until the test kills that process.
    """

    def __init__(self, log: Path, trap: Path | None = None, trap_id: str = "") -> None:
        self.log = log
        self.trap = trap
        self.trap_id = trap_id

    def __call__(self, candidate: Mapping[str, str], example: Mapping[str, Any]) -> Score:
        with self.log.open("a") as fh:
            fh.write(f"{example['id']}\n")
        if self.trap is not None and example["id"] == self.trap_id and not self.trap.exists():
            self.trap.write_text(str(worker_pid()))
            time.sleep(60)
        text = candidate["instruction"]
        needs = [example["i"] % NUM_RULES, (example["i"] + 1) % NUM_RULES]
        missing = [k for k in needs if f"[R{k}]" not in text]
        feedback = "; ".join(f"missing [R{k}]" for k in missing) or "correct"
        return Score(1.0 - len(missing) / len(needs), feedback=feedback)


def add_missing_rules(
    candidate: Mapping[str, str], dataset: Mapping[str, Any], components: list[str]
) -> dict[str, str]:
    """A deterministic proposer: add the first rule that the feedback says is missing."""
    out = {}
    for name in components:
        for record in dataset[name]:
            for token in str(record["Feedback"]).split("; "):
                rule = token.removeprefix("missing ")
                if token.startswith("missing ") and rule not in candidate[name]:
                    out[name] = f"{candidate[name]} {rule}"
                    break
            if name in out:
                break
    return out


def run(task: RuleTask, executor: Any) -> gepakit.Result:
    trainset = [{"id": f"t{i}", "i": i} for i in range(8)]
    valset = [{"id": f"v{i}", "i": i} for i in range(6)]
    return gepakit.optimize(
        {"instruction": "Solve it."},
        trainset,
        valset,
        evaluator=task,
        instruction_proposer=add_missing_rules,
        max_metric_calls=60,
        reflection_minibatch_size=2,
        workers=2,
        max_concurrent_proposals=1,
        executor=executor,
        seed=1,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_ray_run_equals_thread_run(ray_cluster: None, tmp_path: Path) -> None:
    by_thread = run(RuleTask(tmp_path / "threads.log"), "thread")
    by_ray = run(RuleTask(tmp_path / "ray.log"), "ray")
    assert by_ray.to_dict() == by_thread.to_dict()
    assert by_ray.best_score > by_ray.val_aggregate_scores[0]
    assert len(lines(tmp_path / "ray.log")) == by_ray.total_metric_calls


def test_killed_worker_costs_a_retry_not_a_rollout(
    ray_cluster: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = run(RuleTask(tmp_path / "threads.log"), "thread")
    trap = tmp_path / "trap.pid"
    log = tmp_path / "ray.log"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not trap.exists():
            time.sleep(0.02)
        time.sleep(0.05)  # let the task write the pid completely
        pid = int(trap.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    result = run(RuleTask(log, trap=trap, trap_id="v3"), RayExecutor(2))
    thread.join(timeout=5)
    assert killed and killed[0] != os.getpid()
    assert "retrying" not in caplog.text  # Ray retried the task; the engine saw no failure
    assert result.to_dict() == expected.to_dict()
    attempts = lines(log)
    assert len(attempts) == result.total_metric_calls + 1  # one attempt died
    assert attempts.count("v3") == 1 + sum(1 for x in lines(tmp_path / "threads.log") if x == "v3")


def test_function_and_arguments_are_put_once(ray_cluster: None, tmp_path: Path) -> None:
    executor = RayExecutor(2)
    puts: list[Any] = []
    real_put = executor._ray.put
    executor._ray = _PutCounter(ray, real_put, puts)
    try:
        examples = [{"id": "a", "i": 1}, {"id": "b", "i": 2}]
        candidate = {"instruction": "[R1] [R2]"}
        task = RuleTask(tmp_path / "log")
        futures = [executor.submit(task, candidate, examples[k % 2]) for k in range(10)]
        scores = [f.result(timeout=30).score for f in futures]
    finally:
        executor.shutdown()
    assert scores == [1.0, 0.5] * 5
    assert len(puts) == 4  # the function, the candidate, two examples
    assert ray.is_initialized()  # it did not start Ray, so it does not stop it


def test_at_most_workers_tasks_in_flight(ray_cluster: None) -> None:
    executor = RayExecutor(1)
    try:
        started = time.monotonic()
        futures = [executor.submit(time.sleep, 0.3) for _ in range(3)]
        for f in futures:
            f.result(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        executor.shutdown()
    assert elapsed >= 0.9  # one at a time, although the cluster has 2 CPUs


class _PutCounter:
    """Stands in for the `ray` module inside an executor, counting `put` calls."""

    def __init__(self, module: Any, put: Any, calls: list[Any]) -> None:
        self._module = module
        self._put = put
        self._calls = calls

    def put(self, value: Any) -> Any:
        self._calls.append(value)
        return self._put(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"gepakit\[ray\]"):
        RayExecutor(2)
