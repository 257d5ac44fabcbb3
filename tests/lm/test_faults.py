"""Fault injection against a local fake OpenAI-compatible server.

Every fault ends within the time the configured retries and timeouts allow, every
attempt shows in the usage ledger (``requests`` equals what the server saw), and a run
survives: it recovers when the server does, or stops without recording the outage.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit.errors import LMError, RunStoppedError
from gepakit.lm import LM, RetryingLM, UsageLedger, resolve_lm, user_message
from gepakit.lm.openai_client import OpenAICompatibleLM
from gepakit.store.sqlite import SQLiteStore

from .conftest import OK_REPLY, FakeOpenAIServer

FAST = {"max_attempts": 4, "base_delay": 0.01, "max_delay": 0.05}
"""Retries for the tests: 4 attempts, waits of at most 50 ms."""


def _lm(server: FakeOpenAIServer, ledger: UsageLedger, *, timeout: float = 2.0, **kw: Any) -> LM:
    return resolve_lm(
        "fake-model",
        role="task",
        api_base=server.url,
        ledger=ledger,
        retries=kw.pop("retries", FAST),
        timeout=timeout,
        **kw,
    )


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        out = fn()
    except LMError as exc:
        out = exc
    return out, time.perf_counter() - started


@pytest.mark.parametrize(
    "fault", ["500", "503", "429bare", "429", "truncated", "malformed", "nochoices", "nocontent"]
)
def test_recovery_after_transient_faults(fake_server: FakeOpenAIServer, fault: str) -> None:
    fake_server.script = [fault, fault]
    ledger = UsageLedger()
    lm = _lm(fake_server, ledger, retries={**FAST, "max_delay": 1.0 if fault == "429" else 0.05})
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert not isinstance(out, LMError), out
    assert out.text == OK_REPLY
    assert fake_server.calls == 3
    usage = ledger.usage("task")
    assert (usage.calls, usage.retries, usage.errors, usage.requests) == (1, 2, 0, 3)
    assert seconds < 2 * 1.0 + 1.0  # two waits of at most max_delay (Retry-After: 1)


@pytest.mark.parametrize("fault", ["500", "429bare", "truncated", "nochoices"])
def test_a_persistent_fault_gives_up_after_the_configured_attempts(
    fake_server: FakeOpenAIServer, fault: str
) -> None:
    fake_server.script = [fault] * 10
    ledger = UsageLedger()
    lm = _lm(fake_server, ledger)
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert isinstance(out, LMError) and out.transient
    assert "gave up after 4 attempts" in str(out)
    assert fake_server.calls == 4
    usage = ledger.usage("task")
    assert (usage.calls, usage.errors, usage.retries, usage.requests) == (1, 1, 3, 4)
    assert seconds < 3 * 0.05 + 1.0


def test_retry_after_is_capped_by_max_delay(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["429long", "429long"]  # the server asks for 120 s each time
    ledger = UsageLedger()
    lm = _lm(fake_server, ledger, retries={**FAST, "max_delay": 0.2})
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert not isinstance(out, LMError) and out.text == OK_REPLY
    assert 0.4 <= seconds < 1.5


def test_retry_after_and_waits_are_bounded_by_max_elapsed(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["429long"] * 10
    ledger = UsageLedger()
    retries = {"max_attempts": 10, "base_delay": 0.3, "max_delay": 0.3, "max_elapsed": 0.5}
    lm = _lm(fake_server, ledger, retries=retries)
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert isinstance(out, LMError) and "retry limit is 0.5s" in str(out)
    assert seconds < 1.2
    assert ledger.usage("task").requests == fake_server.calls


def test_a_hang_ends_at_the_timeout_of_each_attempt(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["hang", "hang"]
    ledger = UsageLedger()
    lm = _lm(fake_server, ledger, timeout=0.3, retries={**FAST, "max_attempts": 2})
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert isinstance(out, LMError) and "timed out after 0.3s" in str(out)
    assert "127.0.0.1" in str(out)  # names the server it waited for
    assert seconds < 2 * 0.3 + 0.05 + 1.0
    assert ledger.usage("task").requests == 2


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_names_the_real_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    ledger = UsageLedger()
    lm = resolve_lm("m", role="task", api_base=url, ledger=ledger, retries=FAST, timeout=2.0)
    out, seconds = _timed(lambda: lm.complete(user_message("hi")))
    assert isinstance(out, LMError) and out.transient
    assert f"cannot connect to {url}" in str(out) and "api.openai.com" not in str(out)
    assert seconds < 2.0
    assert ledger.usage("task").requests == 4
    # Without api_base the SDK reads OPENAI_BASE_URL: errors name that, not api.openai.com.
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    env_lm = OpenAICompatibleLM("m")
    with pytest.raises(LMError, match=r"cannot connect to http://127\.0\.0\.1") as err:
        env_lm.complete(user_message("hi"))
    assert "api.openai.com" not in str(err.value)
    assert env_lm.provider == "openai-compatible" and env_lm.is_local


def test_a_reply_with_a_lone_surrogate_is_kept(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = ["surrogate"]
    lm = _lm(fake_server, UsageLedger())
    assert lm.complete(user_message("hi")).text == "caf\udce9 \ud83d"
    # ... and a prompt holding one is sent (the lone surrogate as U+FFFD).
    assert lm.complete(user_message("x\ud83d")).text == OK_REPLY
    assert fake_server.requests[-1]["messages"][0]["content"] == "x\ufffd"


def test_an_lm_resolved_twice_retries_in_one_layer(fake_server: FakeOpenAIServer) -> None:
    # `gepakit run` with reflection_params resolves the LM, then optimize resolves it again.
    fake_server.script = ["500"] * 30
    first = resolve_lm("m", role="reflection", api_base=fake_server.url, retries=FAST)
    ledger = UsageLedger()
    lm = resolve_lm(first, role="reflection", ledger=ledger)
    again = resolve_lm(lm, role="reflection", ledger=ledger)  # and once more: no change
    with pytest.raises(LMError):
        again.complete(user_message("hi"))
    assert fake_server.calls == 4  # not 4 x 5
    usage = ledger.usage("reflection")
    assert (usage.calls, usage.errors, usage.retries, usage.requests) == (1, 1, 3, 4)
    chain, n = again, 0
    while chain is not None:
        n += isinstance(chain, RetryingLM)
        chain = getattr(chain, "inner", None)
    assert n == 1


# -- whole runs ------------------------------------------------------------------


TRAIN = [{"id": f"t{i}", "q": f"question {i}"} for i in range(4)]
VAL = [{"id": f"v{i}", "q": f"question {i}"} for i in range(4)]


def _evaluator(lm: LM) -> Callable[[dict[str, str], dict[str, Any]], float]:
    def evaluate(candidate: dict[str, str], example: dict[str, Any]) -> float:
        reply = lm.complete(user_message(candidate["instruction"] + "\n" + example["q"])).text
        return 1.0 if "better" in candidate["instruction"] and reply else 0.0

    return evaluate


def _reflect(prompt: str) -> str:
    return "```\nAnswer better.\n```"


def test_a_run_survives_a_flaky_server_and_counts_every_attempt(
    fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_server.script = ["500", "ok", "429bare", "truncated", "ok", "nochoices"] * 3
    ledger = UsageLedger()
    lm = _lm(fake_server, ledger)
    result = gepakit.optimize(
        {"instruction": "Answer."},
        TRAIN,
        VAL,
        evaluator=_evaluator(lm),
        reflection_lm=_reflect,
        max_metric_calls=16,
        run_dir=tmp_path / "run",
    )
    assert result.total_metric_calls == 14  # seed 4, minibatches 3 + 3, child's val 4
    assert "budget exhausted" in result.stop_reason
    assert result.best_score == 1.0
    assert ledger.usage("task").requests == fake_server.calls
    assert ledger.usage("task").errors == 0


def test_a_run_against_a_dead_server_records_nothing_and_resumes(
    fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    run_dir = tmp_path / "run"
    args: dict[str, Any] = {
        "reflection_lm": _reflect,
        "max_metric_calls": 16,
        "run_dir": run_dir,
    }
    down = resolve_lm("m", role="task", api_base=dead, retries=FAST, timeout=1.0)
    started = time.perf_counter()
    with pytest.raises(RunStoppedError, match=rf"cannot connect to {dead}"):
        gepakit.optimize({"instruction": "Answer."}, TRAIN, VAL, evaluator=_evaluator(down), **args)
    assert time.perf_counter() - started < 5.0
    with SQLiteStore(run_dir, readonly=True) as store:
        assert store.paid_count == 0  # the outage is not a result
    up = _lm(fake_server, UsageLedger())
    result = gepakit.optimize(
        {"instruction": "Answer."}, TRAIN, VAL, evaluator=_evaluator(up), **args
    )
    assert result.total_metric_calls == 14 and result.best_score == 1.0


def test_the_run_timeout_bounds_lm_retries(fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    """With optimize(timeout=), an LM that keeps failing does not hold the run past it:
    a retry whose wait would end after the deadline is not started."""
    fake_server.script = ["ok"] * 4 + ["503"] * 50  # the seed's val pass, then an outage
    slow = {"max_attempts": 6, "base_delay": 20.0, "max_delay": 20.0}  # minutes of waits
    lm = _lm(fake_server, UsageLedger(), retries=slow)
    started = time.perf_counter()
    result = gepakit.optimize(
        {"instruction": "Answer."}, TRAIN, VAL, evaluator=_evaluator(lm),
        reflection_lm=_reflect, max_metric_calls=16, run_dir=tmp_path / "run", timeout=1.0,
    )  # fmt: skip
    assert time.perf_counter() - started < 6.0
    assert result.total_metric_calls == 4  # the outage is not recorded as results
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        assert store.paid_count == 4


# -- Ctrl-C ----------------------------------------------------------------------

CTRLC_SCRIPT = Path(__file__).with_name("ctrlc_run.py")


def _start(
    server: FakeOpenAIServer, run_dir: Path, workers: int, *extra: str
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(CTRLC_SCRIPT), server.url, str(run_dir), str(workers), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while server.calls < 12:  # the seed's 8 val and 3 minibatch replies, then a hang
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("workers", "mode"), [(1, "sync"), (3, "sync"), (3, "async")])
def test_first_ctrl_c_returns_the_result_within_seconds(
    fake_server: FakeOpenAIServer, tmp_path: Path, workers: int, mode: str
) -> None:
    fake_server.hang_seconds = 60.0  # far longer than the test may take
    fake_server.script = ["ok"] * 11 + ["hang"] * 20
    proc = _start(fake_server, tmp_path / "run", workers, mode)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    assert elapsed < 5.0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["stop_reason"] == "stopped on request"
    assert "resume later with run_dir=" in err
    with SQLiteStore(tmp_path / "run", readonly=True) as store:
        assert store.paid_count == result["calls"] == 11
        assert all(r.error is None for _, r in store.rollouts())
    assert time.monotonic() - started < 5.0 + 1.0


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_ctrl_c_exits_at_once_with_the_store_consistent(
    fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_server.hang_seconds = 60.0
    fake_server.script = ["ok"] * 11 + ["hang"] * 20
    proc = _start(fake_server, tmp_path / "run", 3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - started < 2.0
    assert proc.returncode != 0 and "second Ctrl-C" in err
    with SQLiteStore(tmp_path / "run") as store:  # consistent, resumable, lock released
        assert store.paid_count == 11


def test_prompt_program_retries_show_in_the_run_ledger(fake_server: FakeOpenAIServer) -> None:
    from gepakit.programs import PromptProgram

    fake_server.script = ["500", "429bare"]
    lm = resolve_lm("m", role="task", api_base=fake_server.url, retries=FAST, timeout=2.0)
    program = PromptProgram(lm, labels=["hello from the fake server"])
    ledger = UsageLedger()
    program.use_ledger(ledger)
    program.use_ledger(ledger)  # once is enough: retries are not counted twice
    score = program({"system_prompt": "Say hello."}, {"text": "hi", "label": OK_REPLY})
    assert score.score == 1.0
    usage = ledger.usage("task")
    assert (usage.calls, usage.retries, usage.requests) == (1, 2, fake_server.calls) == (1, 2, 3)


def test_cancel_retries_ends_a_wait_at_once() -> None:
    from gepakit.lm.retry import allow_retries, cancel_retries

    class Busy:
        model = "busy"

        def complete(self, messages: Any, **params: Any) -> Any:
            raise LMError("busy", status=503, retry_after=30.0, transient=True)

        async def acomplete(self, messages: Any, **params: Any) -> Any:
            raise NotImplementedError

    lm = RetryingLM(Busy(), max_attempts=5, max_delay=30.0)
    timer = threading.Timer(0.2, cancel_retries)
    timer.start()
    try:
        out, seconds = _timed(lambda: lm.complete(user_message("x")))
    finally:
        timer.join()
        allow_retries()
    assert isinstance(out, LMError) and out.transient and "the run is stopping" in str(out)
    assert seconds < 2.0
