"""MLflow (local file-backed store) and W&B (offline) sinks, read back after a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import Result, Score
from gepakit.integrations.tracking import MLflowSink, WandbSink, tracking_sinks

# MLflow, its SQLAlchemy store and W&B emit deprecation warnings of their own
# dependencies; they are not gepakit's to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::PendingDeprecationWarning"
)

DATA = [{"id": f"e{i}", "label": "pqrs"[i % 4]} for i in range(8)]


def _evaluate(candidate: dict[str, str], example: dict[str, Any]) -> Score:
    ok = example["label"] in candidate["prompt"]
    return Score(1.0 if ok else 0.0, feedback=f"needs {example['label']} <script>x</script>")


def _reflect(prompt: str) -> str:
    text = prompt.split("```")[1].strip()
    return "```\n" + text + " " + "pqrs"[len(text.split()) % 4] + "\n```"


def _run(**options: Any) -> Result:
    return gepakit.optimize(
        {"prompt": "go:"}, DATA[:4], DATA[4:], evaluator=_evaluate,
        reflection_lm=_reflect, max_metric_calls=40, progress=False, **options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (creating one runs MLflow's migrations, slowly)."""
    pytest.importorskip("mlflow")
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def mlflow_uri(mlflow_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import mlflow

    # MLflow's default artifact root is ./mlruns: keep it out of the checkout.
    monkeypatch.chdir(tmp_path)

    before = mlflow.get_tracking_uri()
    yield mlflow_db
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(before)


def _only_run(uri: str, experiment: str) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    return client, run


def test_mlflow_logs_params_metrics_and_artifacts(mlflow_uri: str, tmp_path: Path) -> None:
    result = _run(use_mlflow=True, mlflow_tracking_uri=mlflow_uri, mlflow_experiment_name="exp")
    client, run = _only_run(mlflow_uri, "exp")
    assert run.info.status == "FINISHED"
    assert run.data.params["gepakit.max_metric_calls"] == "40"
    assert run.data.params["gepakit.components"] == "prompt"
    history = client.get_metric_history(run.info.run_id, "best_val_score")
    assert history[-1].value == pytest.approx(result.best_score)
    assert [m.step for m in history] == sorted(m.step for m in history)
    assert run.data.metrics["metric_calls_used"] == result.total_metric_calls
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "best_prompt.txt", "best_candidate.json", "candidates.json"} <= names
    local = Path(client.download_artifacts(run.info.run_id, "best_prompt.txt", str(tmp_path)))
    assert local.read_text(encoding="utf-8") == result.best_candidate["prompt"]
    table = json.loads(
        Path(client.download_artifacts(run.info.run_id, "candidates.json", str(tmp_path)))
        .read_text(encoding="utf-8")
    )  # fmt: skip
    assert "val_score" in json.dumps(table)
    report = Path(client.download_artifacts(run.info.run_id, "report.html", str(tmp_path)))
    assert "&lt;script&gt;x&lt;/script&gt;" in report.read_text(encoding="utf-8")


def test_mlflow_attaches_to_the_active_run(mlflow_uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment("outer")
    with mlflow.start_run() as outer:
        _run(callbacks=[MLflowSink()])
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == outer.info.run_id
    _, run = _only_run(mlflow_uri, "outer")
    assert run.info.run_id == outer.info.run_id
    assert "best_val_score" in run.data.metrics


def test_mlflow_registers_the_best_prompt(mlflow_uri: str) -> None:
    import mlflow

    sink = MLflowSink(tracking_uri=mlflow_uri, experiment_name="reg", register_prompt="intent")
    result = _run(callbacks=[sink])
    prompt = mlflow.genai.load_prompt("prompts:/intent/1")  # pyright: ignore[reportPrivateImportUsage]
    assert prompt.template == result.best_candidate["prompt"]


def test_mlflow_run_marked_failed_when_optimize_raises(mlflow_uri: str) -> None:
    def boom(candidate: dict[str, str], example: dict[str, Any]) -> float:
        raise RuntimeError("broken evaluator")

    with pytest.raises(Exception, match="broken evaluator"):
        gepakit.optimize(
            {"prompt": "x"}, DATA[:4], DATA[4:], evaluator=boom, reflection_lm=_reflect,
            max_metric_calls=40, progress=False, raise_on_exception=True,
            use_mlflow=True, mlflow_tracking_uri=mlflow_uri, mlflow_experiment_name="fail",
        )  # fmt: skip
    _, run = _only_run(mlflow_uri, "fail")
    assert run.info.status == "FAILED"


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var, sub in (("WANDB_DIR", ""), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data"),
                     ("WANDB_CONFIG_DIR", "config")):  # fmt: skip
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def test_wandb_offline_logs_table_report_and_finishes(wandb_offline: Path) -> None:
    import wandb

    result = _run(use_wandb=True, wandb_init_kwargs={"project": "gepakit-test"})
    assert wandb.run is None  # the sink started the run, so it finished it
    (run_dir,) = (wandb_offline / "wandb").glob("offline-run-*")
    assert list(run_dir.glob("run-*.wandb"))
    (table,) = (run_dir / "files" / "media" / "table").glob("candidates_*.table.json")
    rows = json.loads(table.read_text(encoding="utf-8"))
    assert len(rows["data"]) == result.num_candidates
    assert "val_score" in rows["columns"]
    (html,) = (run_dir / "files" / "media" / "html").glob("report_*.html")
    assert "lineage-chart" in html.read_text(encoding="utf-8")


def test_wandb_attaches_to_the_current_run(wandb_offline: Path) -> None:
    import wandb

    run = wandb.init(project="gepakit-test")
    try:
        result = _run(callbacks=[WandbSink()])
        assert wandb.run is run  # left open for the caller
        summary = dict(run.summary)
        assert summary["best_val_score"] == pytest.approx(result.best_score)
        assert summary["best_prompt"] == result.best_candidate["prompt"]
        assert summary["metric_calls_used"] == result.total_metric_calls
        assert summary["proposals_accepted"] == result.num_candidates - 1
        assert run.config["gepakit.max_metric_calls"] == 40
    finally:
        run.finish()


def test_tracking_sinks_choose_by_option() -> None:
    assert tracking_sinks() == []
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    kinds = [type(s) for s in tracking_sinks(use_mlflow=True, use_wandb=True)]
    assert kinds == [MLflowSink, WandbSink]


def test_optimize_register_prompt_and_params(mlflow_uri: str) -> None:
    """As the README documents it: optimize(use_mlflow=True, register_prompt=...), with a
    local SQLite file as the tracking store (MLflow 3 refuses plain ./mlruns stores)."""
    import mlflow

    result = _run(
        use_mlflow=True, mlflow_tracking_uri=mlflow_uri, mlflow_experiment_name="reg-opt",
        register_prompt="intent-prompt", workers=2,
    )  # fmt: skip
    prompt = mlflow.genai.load_prompt("prompts:/intent-prompt/1")  # pyright: ignore[reportPrivateImportUsage]
    assert prompt.template == result.best_candidate["prompt"]
    client, run = _only_run(mlflow_uri, "reg-opt")
    params = run.data.params
    assert params["gepakit.reflection_lm"].endswith("_reflect")
    assert params["gepakit.evaluator"].endswith("_evaluate")
    assert params["gepakit.candidate_selection_strategy"] == "pareto"
    assert params["gepakit.reflection_minibatch_size"] == "3"
    assert params["gepakit.workers"] == "2" and params["gepakit.use_merge"] == "True"
    assert params["gepakit.register_prompt"] == "intent-prompt"
    metrics = run.data.metrics
    assert "cost_usd" in metrics or "cost_usd_lower_bound" in metrics
    assert "lm_prompt_tokens" in metrics
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "candidates")}
    assert len(logged) == result.num_candidates


def test_register_prompt_implies_mlflow() -> None:
    pytest.importorskip("mlflow")
    (sink,) = tracking_sinks(register_prompt="p")
    assert isinstance(sink, MLflowSink) and sink.register_prompt == "p"


def test_mlflow_keeps_candidates_of_a_crashed_run(mlflow_uri: str, tmp_path: Path) -> None:
    calls = 0

    def crashes_later(candidate: dict[str, str], example: dict[str, Any]) -> Score:
        nonlocal calls
        calls += 1
        if calls > 20:
            raise RuntimeError("machine on fire")
        return _evaluate(candidate, example)

    with pytest.raises(Exception, match="machine on fire"):
        gepakit.optimize(
            {"prompt": "go:"}, DATA[:4], DATA[4:], evaluator=crashes_later,
            reflection_lm=_reflect, max_metric_calls=40, progress=False, raise_on_exception=True,
            use_mlflow=True, mlflow_tracking_uri=mlflow_uri, mlflow_experiment_name="crash",
        )  # fmt: skip
    client, run = _only_run(mlflow_uri, "crash")
    assert run.info.status == "FAILED"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "best_prompt.txt" in names
    logged = [a.path for a in client.list_artifacts(run.info.run_id, "candidates")]
    assert "candidates/candidate_0000.json" in logged
    seed = json.loads(
        Path(client.download_artifacts(run.info.run_id, logged[0], str(tmp_path))).read_text()
    )
    assert seed["texts"] == {"prompt": "go:"} and seed["index"] == 0
