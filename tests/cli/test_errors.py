"""The CLI error contract: one line on stderr, a distinct exit code per kind of error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gepakit
from gepakit.cli.errors import EXIT_CODES, exit_code_of
from gepakit.cli.main import app
from gepakit.errors import ConfigError, ResumeMismatchError, RunInUseError, StoreError
from gepakit.store.lock import RunLock

runner = CliRunner()
SRC = Path(gepakit.__file__).resolve().parents[1]

TASK = """
import os
from pathlib import Path
from gepakit import Score

def evaluate(candidate, example):
    ok = example["label"] in candidate["prompt"].split()
    return Score(1.0 if ok else 0.0, feedback="expected " + example["label"])

def broken_evaluate(candidate, example):
    raise RuntimeError("evaluator exploded")

def reflect(prompt):
    text = prompt.split("```")[1].strip()
    missing = [x for x in ("alpha", "beta", "gamma") if x not in text.split()]
    return "```\\n" + text + (" " + missing[0] if missing else "") + "\\n```"

def failing_reflect(prompt):
    raise ValueError("model 'gpt-nope' does not exist")

def stopping_reflect(prompt):
    (Path(os.environ["UX_RUN_DIR"]) / "STOP").write_text("")
    return reflect(prompt)

def ctrl_c_reflect(prompt):
    raise KeyboardInterrupt
"""

CONFIG = """\
seed_candidate = {{ prompt = "labels:" }}
train = "train.jsonl"
val = "val.jsonl"
evaluator = "ux_cli_task:{evaluator}"
reflection_function = "ux_cli_task:{reflect}"
max_metric_calls = {budget}
run_dir = "out"
[options]
raise_on_exception = {raise_on_exception}
"""


def project(
    tmp_path: Path,
    *,
    evaluator: str = "evaluate",
    reflect: str = "reflect",
    budget: int = 60,
    raise_on_exception: str = "false",
) -> Path:
    (tmp_path / "ux_cli_task.py").write_text(TASK, encoding="utf-8")
    labels = ["alpha", "beta", "gamma"]
    for name in ("train", "val"):
        rows = [{"id": f"{name}{i}", "label": labels[i % 3]} for i in range(6)]
        (tmp_path / f"{name}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
        )
    path = tmp_path / "run.toml"
    text = CONFIG.format(
        evaluator=evaluator, reflect=reflect, budget=budget, raise_on_exception=raise_on_exception
    )
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    out = runner.invoke(app, list(args))
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    return out.exit_code, out.output


def test_every_code_is_distinct() -> None:
    codes = {code for _, code, _ in EXIT_CODES if code not in (130,)}
    kinds = {name for _, _, name in EXIT_CODES}
    assert len(codes) == len(kinds) - 1  # Interrupted and KeyboardInterrupt share 130
    assert exit_code_of(RunInUseError("x")) == 5
    assert exit_code_of(StoreError("x")) == 4
    assert exit_code_of(ResumeMismatchError("x")) == 3
    assert exit_code_of(ConfigError("x")) == 2
    assert exit_code_of(IsADirectoryError(21, "Is a directory", "x")) == 8
    assert exit_code_of(RuntimeError("x")) == 1


def test_version() -> None:
    code, output = run("--version")
    assert code == 0 and output.strip() == f"gepakit {gepakit.__version__}"


def test_run_prints_the_prompt_and_why_it_stopped(tmp_path: Path) -> None:
    code, output = run("run", str(project(tmp_path)), "--no-progress")
    assert code == 0, output
    assert "Best val score 1.0000" in output and "seed 0.0000" in output
    assert "Stopped: " in output
    assert "Optimized prompt:" in output
    best = gepakit.load_run(tmp_path / "out").best_candidate["prompt"]
    assert f"    {best}" in output


def test_rerun_of_a_finished_run_hints_and_fresh_starts_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = str(project(tmp_path))
    assert run("run", config, "--no-progress")[0] == 0
    assert "already held" not in caplog.text
    code, output = run("run", config, "--no-progress")
    assert code == 0
    assert "already held a finished run: this is its stored result" in caplog.text
    assert "gepakit run --fresh" in caplog.text
    caplog.clear()
    code, output = run("run", config, "--no-progress", "--fresh")
    assert code == 0, output
    assert "Starting over: the previous run was moved to" in output
    assert "already held" not in caplog.text
    (old,) = tmp_path.glob("out.old-*")
    assert (old / "run.db").is_file()
    assert gepakit.load_run(old).best_score == gepakit.load_run(tmp_path / "out").best_score


def test_config_error_is_2(tmp_path: Path) -> None:
    path = project(tmp_path)
    path.write_text(path.read_text().replace("max_metric_calls = 60", ""), encoding="utf-8")
    code, output = run("run", str(path))
    assert code == 2 and output.startswith("error: ") and len(output.splitlines()) == 1


def test_resume_mismatch_is_3(tmp_path: Path) -> None:
    path = project(tmp_path)
    assert run("run", str(path), "--no-progress")[0] == 0
    path.write_text(path.read_text().replace("labels:", "other"), encoding="utf-8")
    code, output = run("run", str(path), "--no-progress")
    assert code == 3 and "cannot resume" in output and "Traceback" not in output


def test_store_errors_are_4(tmp_path: Path) -> None:
    for cmd in ("status", "export", "resume"):
        code, output = run(cmd, str(tmp_path / "nope"))
        assert code == 4, (cmd, output)
        assert "no gepakit run" in output and len(output.splitlines()) == 1
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "run.db").write_bytes(b"this is not sqlite" * 100)
    code, output = run("status", str(garbage))
    assert code == 4 and "Traceback" not in output


def test_run_in_use_is_5(tmp_path: Path) -> None:
    path = project(tmp_path)
    (tmp_path / "out").mkdir()
    lock = RunLock(tmp_path / "out")
    lock.acquire()
    try:
        code, output = run("run", str(path), "--no-progress")
    finally:
        lock.release()
    assert code == 5 and "in use" in output


def test_evaluator_error_is_6(tmp_path: Path) -> None:
    path = project(tmp_path, evaluator="broken_evaluate")
    code, output = run("run", str(path), "--no-progress")
    assert code == 6 and "evaluator failed" in output and len(output.splitlines()) == 1


def test_file_errors_are_8(tmp_path: Path) -> None:
    path = project(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(path.read_bytes().replace(b"labels:", b"labels \xe9:"))
    code, output = run("run", str(bad))
    assert code in (2, 8) and "Traceback" not in output  # TOML reports it as invalid
    train = tmp_path / "train.jsonl"
    train.write_bytes(b'{"id": "x", "label": "\xe9"}\n')
    code, output = run("run", str(path), "--no-progress")
    assert code == 8 and "UTF-8" in output
    code, output = run("run", str(tmp_path))  # a directory as the config
    assert code in (2, 8) and output.startswith("error: ")
    target = tmp_path / "somedir"
    target.mkdir()
    code, output = run("export", str(tmp_path / "out"), "-o", str(target))
    assert code in (2, 4) and output.startswith("error: ")


def test_report_path_that_is_a_directory_fails_before_the_run(tmp_path: Path) -> None:
    path = project(tmp_path)
    (tmp_path / "rep").mkdir()
    path.write_text(path.read_text().replace("[options]", 'report = "rep"\n[options]'))
    code, output = run("run", str(path), "--no-progress")
    assert code == 2 and "is a directory" in output
    assert not (tmp_path / "out" / "run.db").exists()


def test_all_proposals_failed_is_10_and_says_why(tmp_path: Path) -> None:
    path = project(tmp_path, reflect="failing_reflect")
    code, output = run("run", str(path), "--no-progress")
    assert code == 10, output
    assert "nothing found" in output and "gpt-nope" in output


def test_stop_request_is_130_with_a_resume_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UX_RUN_DIR", str(tmp_path / "out"))
    path = project(tmp_path, reflect="stopping_reflect", budget=200)
    code, output = run("run", str(path), "--no-progress")
    assert code == 130, output
    assert f"gepakit resume {tmp_path / 'out'}" in output


def test_ctrl_c_is_130_with_a_resume_hint(tmp_path: Path) -> None:
    path = project(tmp_path, reflect="ctrl_c_reflect")
    code, output = run("run", str(path), "--no-progress")
    assert code == 130, output
    assert "interrupted" in output and "gepakit resume" in output
    code, output = run("status", str(tmp_path / "out"))
    assert "state:       interrupted" in output


def test_status_tells_failed_from_finished(tmp_path: Path) -> None:
    path = project(tmp_path)
    assert run("run", str(path), "--no-progress")[0] == 0
    code, output = run("status", str(tmp_path / "out"))
    assert code == 0 and "state:       finished: " in output
    status = json.loads(run("status", str(tmp_path / "out"), "--json")[1])
    assert status["state"] == "finished"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "gepakit.cli.main"]
    plain = subprocess.run([*cmd, "status", str(tmp_path)], capture_output=True, text=True, env=env)
    assert plain.returncode == 4 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("error: ")
    debug = subprocess.run(
        [*cmd, "--debug", "status", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert debug.returncode != 0 and "StoreError" in debug.stderr


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("demo", "[default: runs/demo-<time>]"),
        ("export", "[default: stdout]"),
        ("report", "[default: the run]"),
        ("run", "[default: on a terminal only]"),
    ],
)
def test_help_keeps_its_defaults(command: str, shown: str) -> None:
    out = runner.invoke(app, [command, "--help"], env={"COLUMNS": "250"})
    assert out.exit_code == 0
    assert shown in out.output


def test_export_csv_defuses_formulas_and_escapes(tmp_path: Path) -> None:
    def evaluate(candidate: dict[str, str], example: dict[str, str]) -> gepakit.Score:
        return gepakit.Score(0.5, feedback='=HYPERLINK("http://evil")\x1b]0;owned\x07')

    data = [{"id": f"@e{i}"} for i in range(3)]
    gepakit.optimize(
        {"p": "x"}, data, data, evaluator=evaluate, reflection_lm=lambda p: "```\ny\n```",
        max_metric_calls=12, run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    code, output = run("export", str(tmp_path / "run"), "--format", "csv")
    assert code == 0, output
    assert "\x1b" not in output and "\x07" not in output
    assert "'=HYPERLINK" in output and "'@e0" in output
    assert ",=" not in output and ",@" not in output


def test_status_state_line_of_a_failed_run_is_sanitized(tmp_path: Path) -> None:
    from gepakit.run_state import record_failure
    from gepakit.store.sqlite import SQLiteStore

    path = project(tmp_path)
    assert run("run", str(path), "--no-progress")[0] == 0
    with SQLiteStore(tmp_path / "out") as store:
        store.put_event("session_started", {"resumed": True})
        record_failure(store, RuntimeError("LM said \x1b]0;owned\x07\x1b[2Jbye\nnow"))
    code, output = run("status", str(tmp_path / "out"))
    assert code == 0
    (line,) = [x for x in output.splitlines() if x.startswith("state:")]
    assert line == "state:       failed: RuntimeError: LM said bye now"
    assert "\x1b" not in output and "\x07" not in output
