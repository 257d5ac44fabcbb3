"""Per-example details and the timeline from a run store, and the live view (`watch`)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

import gepakit
from gepakit import Result, Score
from gepakit.report import build_report_data, load_details, render_html, write_report
from gepakit.report.live import watch_run, watch_state


def _evaluate_slowly(delay: float):  # a test evaluator factory
    def evaluate(candidate: dict[str, str], example: dict[str, str]) -> Score:
        time.sleep(delay)
        ok = example["label"] in candidate["prompt"]
        return Score(
            1.0 if ok else 0.0,
            feedback=f"expected {example['label']}",
            output=example["label"] if ok else "?",
        )

    return evaluate


def _reflect(prompt: str) -> str:
    """A scripted reflection LM (a fake): adds the labels the feedback asks for."""
    current = prompt.split("```")[1].strip() if "```" in prompt else ""
    wanted = sorted(set(re.findall(r"expected (\w+)", prompt)))
    return "```\n" + current + " " + " ".join(wanted[:1]) + "\n```"


DATA = [{"id": f"e{i}", "text": f"item {i}", "label": f"L{i % 6}"} for i in range(18)]


def _run(run_dir: Path, delay: float = 0.0, budget: int = 80) -> Result:
    return gepakit.optimize(
        {"prompt": "Labels:"},
        DATA[:9],
        DATA[9:],
        evaluator=_evaluate_slowly(delay),
        reflection_lm=_reflect,
        max_metric_calls=budget,
        run_dir=run_dir,
        progress=False,
        use_merge=False,
    )


def test_details_show_seed_and_best_outputs_and_a_timeline(tmp_path: Path) -> None:
    result = _run(tmp_path / "run")
    assert result.best_idx > 0
    details = load_details(tmp_path / "run", result)
    assert details is not None
    assert [r.example_id for r in details.examples] == [d["id"] for d in DATA[9:]]
    changes = {r.change for r in details.examples}
    assert "improved" in changes
    improved = next(r for r in details.examples if r.change == "improved")
    assert improved.seed is not None and improved.best is not None
    assert improved.seed.output == "?" and improved.best.output.startswith("L")
    assert improved.seed.feedback.startswith("expected")
    assert '"text": "item' in improved.inputs
    times = [p.elapsed for p in details.timeline]
    assert times == sorted(times) and len(times) == len(result.proposals) + 1
    assert details.timeline[-1].best == result.best_score
    assert details.wall_time is not None and details.wall_time >= 0


def test_report_of_a_run_dir_has_the_example_view(tmp_path: Path) -> None:
    _run(tmp_path / "run")
    page = write_report(tmp_path / "run", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<tbody id='example-list'>" in page
    assert page.count("<tr data-item data-change=") == len(DATA[9:])
    assert "wall time" in page


def test_a_result_without_store_has_no_example_view(merge_result: Result) -> None:
    page = render_html(build_report_data(merge_result))
    assert "report on a run directory to see them" in page


def test_watch_follows_a_running_run_until_it_finishes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    page = tmp_path / "live.html"
    lines: list[str] = []
    seen_live: list[bool] = []

    def sleep(seconds: float) -> None:
        if page.exists():
            seen_live.append("http-equiv='refresh'" in page.read_text(encoding="utf-8"))
        time.sleep(seconds)

    worker = threading.Thread(target=_run, args=(run_dir, 0.01, 120))
    worker.start()
    try:
        state = watch_run(run_dir, page, interval=0.05, echo=lines.append, sleep=sleep, timeout=60)
    finally:
        worker.join()
    assert state == "finished"
    assert True in seen_live  # while running, the page reloads itself
    final = page.read_text(encoding="utf-8")
    assert "http-equiv='refresh'" not in final and "id='live'" not in final
    calls = [int(line.split("calls ")[1].split("/")[0]) for line in lines]
    assert len(calls) >= 2 and calls == sorted(calls) and calls[-1] > calls[0]


def test_watch_state_of_finished_and_missing_runs(tmp_path: Path) -> None:
    result = _run(tmp_path / "run", budget=40)
    assert watch_state(tmp_path / "run", result) == "finished"
    assert watch_state(tmp_path / "nothing", None) == "waiting"


def test_cli_watch_once_on_a_finished_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gepakit.cli.main import app

    _run(tmp_path / "run", budget=40)
    out = CliRunner().invoke(app, ["watch", str(tmp_path / "run"), "--once"])
    assert out.exit_code == 0, out.output
    assert re.search(r"calls \d+/40  candidates \d+", out.output)
    page = (tmp_path / "run" / "live.html").read_text(encoding="utf-8")
    assert "http-equiv='refresh'" not in page
    missing = CliRunner().invoke(app, ["watch", str(tmp_path / "none"), "--timeout", "0.3"])
    assert missing.exit_code == 4


def test_details_of_a_run_with_repeats_show_each_examples_mean_over_its_draws(
    tmp_path: Path,
) -> None:
    calls: dict[str, int] = {}

    def alternating(candidate: dict[str, str], example: dict[str, str]) -> Score:
        """A fake noisy evaluator: right on every other call per example."""
        calls[example["id"]] = calls.get(example["id"], 0) + 1
        ok = calls[example["id"]] % 2 == 0
        return Score(1.0 if ok else 0.0, feedback="ok" if ok else "no", output=str(ok))

    with pytest.warns(UserWarning, match="no room for a proposal"):  # the seed only
        result = gepakit.optimize(
            {"prompt": "Labels:"},
            DATA[:9],
            DATA[9:],
            evaluator=alternating,
            reflection_lm=_reflect,
            max_metric_calls=18,
            run_dir=tmp_path / "run",
            progress=False,
            eval_repeats=2,
        )
    assert result.val_aggregate_scores == (0.5,)
    details = load_details(tmp_path / "run", result)
    assert details is not None
    seed = [r.seed for r in details.examples]
    assert all(v is not None and v.score == 0.5 and v.output == "False" for v in seed)
    assert all(v is not None and v.feedback.startswith("Scored 0, 1 in 2 runs") for v in seed)
