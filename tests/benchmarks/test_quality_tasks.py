"""benchmarks/quality_tasks.py: task data, metrics and the harness, with scripted fakes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gepakit.testing import ScriptedLM, fenced

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = ROOT / "benchmarks" / "quality_tasks.py"
    spec = importlib.util.spec_from_file_location("quality_tasks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_tasks"] = module
    spec.loader.exec_module(module)
    return module


qt = _load()


@pytest.mark.parametrize("name", ["sentiment", "restaurant_json", "object_counting"])
def test_task_data_has_fixed_disjoint_splits(name: str) -> None:
    task = qt.TASKS[name]
    splits = task.load()
    assert {k: len(v) for k, v in splits.items()} == {"train": 60, "val": 20, "test": 100}
    ids = [row["id"] for rows in splits.values() for row in rows]
    assert len(ids) == len(set(ids))
    row = splits["test"][0]
    assert task.answer_field in row
    task.user_template.format_map(row)  # the template's fields are in every row
    assert (task.path.parent / "SOURCE.md").is_file()


def test_sentiment_labels_are_balanced_per_split() -> None:
    splits = qt.TASKS["sentiment"].load()
    for split, rows in splits.items():
        labels = [row["label"] for row in rows]
        counts = {label: labels.count(label) for label in qt.SENTIMENT_LABELS}
        assert len(set(counts.values())) == 1, (split, counts)


def test_counting_rows_sum_to_the_answer() -> None:
    for rows in qt.TASKS["object_counting"].load().values():
        for row in rows:
            assert sum(n for _, n in row["counted"]) == row["answer"]


def test_sentiment_metric_scores_labels_and_names_the_expected_one() -> None:
    metric = qt.TASKS["sentiment"].metric
    assert metric({"label": "neutral"}, "Neutral.").score == 1.0
    wrong = metric({"label": "ambivalent"}, "positive")
    assert wrong.score == 0.0
    assert "'ambivalent'" in (wrong.feedback or "")


def test_fields_metric_gives_partial_credit_and_names_each_bad_field() -> None:
    metric = qt.FieldsMetric()
    expected = {"name": "Blue Spice", "eat_type": "pub", "area": "riverside", "near": "Avalon"}
    exact = metric({"fields": expected}, json.dumps({**expected, "name": "The Blue Spice"}))
    assert exact.score == 1.0
    got = {"name": "Blue Spice", "eat_type": "coffee shop", "food": "French", "near": None}
    reply = f"```json\n{json.dumps(got)}\n```"
    verdict = metric({"fields": expected}, reply)
    # fields that matter: name, eat_type, area, near (expected) + food (extra) -> 1 of 5
    assert verdict.score == pytest.approx(1 / 5)
    feedback = verdict.feedback or ""
    assert "wrong field 'eat_type': expected 'pub', got 'coffee shop'" in feedback
    assert "missing field 'area': expected 'riverside'" in feedback
    assert "missing field 'near'" in feedback
    assert "extra field 'food'" in feedback


def test_fields_metric_reads_booleans_and_rejects_non_json() -> None:
    metric = qt.FieldsMetric()
    expected = {"name": "Zizzi", "family_friendly": "yes"}
    assert metric({"fields": expected}, '{"name": "zizzi", "family_friendly": true}').score == 1.0
    bad = metric({"fields": expected}, "Zizzi is family friendly.")
    assert bad.score == 0.0
    assert "not valid JSON" in (bad.feedback or "")
    assert metric({"fields": expected}, "[1, 2]").score == 0.0


def test_counting_metric_reads_the_last_number_and_shows_the_count() -> None:
    metric = qt.CountingMetric()
    example = {
        "answer": 3,
        "kind": "fruits",
        "counted": [["an apple", 1], ["two plums", 2]],
        "decoys": ["a cat"],
    }
    assert metric(example, "1 apple + 2 plums = 3").score == 1.0
    assert metric(example, "You have three.").score == 1.0
    wrong = metric(example, "an apple (1), two plums (2), a cat (1): 4")
    assert wrong.score == 0.0
    feedback = wrong.feedback or ""
    assert "last number in the reply was 4" in feedback
    assert "an apple (1) + two plums (2) = 3" in feedback
    assert "not counted: a cat" in feedback
    assert "contains no number" in (metric(example, "I do not know").feedback or "")


def _fake_models(rule: str) -> Any:
    """Fakes: the task LM answers right only when the system prompt has `rule`; the
    reflection LM always proposes a prompt with `rule` in it."""
    rows = [r for rows in qt.TASKS["sentiment"].load().values() for r in rows]
    label_of = {row["text"]: row["label"] for row in rows}

    def task_reply(prompt: str) -> str:
        system, _, user = prompt.partition("\n\n")
        return label_of.get(user, "?") if rule in system else "no idea"

    def make(spec: str, role: str, ledger: Any) -> Any:
        if role == "reflection":
            lm: Any = ScriptedLM(lambda _p: fenced(f"Classify the sentiment. {rule}"))
        else:
            lm = ScriptedLM(task_reply)
        from gepakit.lm import resolve_lm

        return resolve_lm(lm, role=role, ledger=ledger)

    return qt.Models("fake-task", "fake-reflection", factory=make)


@pytest.mark.parametrize("optimizer", ["gepakit-auto", "gepa"])
def test_harness_runs_an_optimizer_and_scores_the_best_prompt_on_test(
    optimizer: str, tmp_path: Path
) -> None:
    if optimizer == "gepa":
        pytest.importorskip("gepa")
    rule = "Reply with the lowercase label only."
    out = tmp_path / "results.json"
    bench = qt.Bench(
        models=_fake_models(rule), workers=2, test_limit=12, out=out, echo=lambda _s: None
    )
    record = bench.run_one(qt.TASKS["sentiment"], optimizer, seed=0, budget=60)
    assert record.error == ""
    assert rule in record.best_prompt
    assert (record.seed_test, record.test) == (0.0, 1.0)
    assert (record.seed_val, record.best_val) == (0.0, 1.0)
    assert record.accepted >= 1
    assert record.reflection_calls >= 1
    assert 20 < record.metric_calls <= 60 + 26  # gepa may overshoot by one step
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["runs"][0]["optimizer"] == optimizer
    assert saved["summary"][0]["test"] == 1.0


def test_harness_records_a_failed_run_and_goes_on(tmp_path: Path) -> None:
    bench = qt.Bench(models=_fake_models("x"), out=None, echo=lambda _s: None)
    record = bench.run_one(qt.TASKS["sentiment"], "no-such-optimizer", seed=0, budget=60)
    assert "unknown optimizer" in record.error
    rows = qt.summarize(bench.records)
    assert rows[0]["runs"] == 0 and rows[0]["failed"] == 1
    assert "0 (1 failed)" in qt.format_table(rows)


def test_summary_means_and_standard_errors() -> None:
    runs = [
        qt.RunRecord("t", "o", seed, 100, test=test, seed_test=0.1, metric_calls=calls)
        for seed, test, calls in [(0, 0.5, 90), (1, 0.7, 100)]
    ]
    (row,) = qt.summarize(runs)
    assert row["test"] == pytest.approx(0.6)
    assert row["test_se"] == pytest.approx(0.1)
    assert row["metric_calls"] == 95
    table = qt.format_table([row])
    assert "0.600 ± 0.100" in table


def test_summarize_pools_saved_results_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, test in enumerate([0.25, 0.75]):
        bench = qt.Bench(out=tmp_path / f"r{i}.json", echo=lambda _s: None)
        bench.records.append(qt.RunRecord("sentiment", "gepa", i, 100, test=test))
        bench.save()
    assert qt.main(["--summarize", str(tmp_path / "r0.json"), str(tmp_path / "r1.json")]) == 0
    out = capsys.readouterr().out
    assert "| sentiment | gepa | 2 |" in out
    assert "0.500 ± 0.250" in out


def test_cli_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        qt.main(["--tasks", "nope"])
    assert "unknown task" in capsys.readouterr().err


def test_cli_seed_list_is_taken_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(self: Any, tasks: Any, optimizers: Any, seeds: Any, budget: int) -> list[Any]:
        seen.update(tasks=tasks, optimizers=optimizers, seeds=seeds, budget=budget)
        return []

    monkeypatch.setattr(qt.Bench, "run", fake_run)
    out = ["--out", "/dev/null", "--tasks", "sentiment", "--optimizers", "gepa", "--budget", "70"]
    assert qt.main(["--seeds", "0", *out]) == 0
    assert seen == {"tasks": ["sentiment"], "optimizers": ["gepa"], "seeds": [0], "budget": 70}
    qt.main(["--seeds", "2,5", *out])
    assert seen["seeds"] == [2, 5]
