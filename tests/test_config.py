"""TOML run configs: validation errors name the file and field; a scripted run end to end."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gepakit import ConfigError
from gepakit.config import FIELDS, TOML_OPTIONS, load_config, load_jsonl, run_from_config
from gepakit.options import OPTIONS, check_option

EVALUATOR = """
from gepakit import Score

def evaluate(candidate, example):
    ok = example["label"] in candidate["prompt"].split()
    return Score(1.0 if ok else 0.0, feedback="expected " + example["label"])

def reflect(prompt):
    text = prompt.split("```")[1].strip()
    missing = [x for x in ("alpha", "beta", "gamma") if x not in text.split()]
    return "```\\n" + text + (" " + missing[0] if missing else "") + "\\n```"

def metric(example, reply):
    return float(reply.strip() == example["label"])
"""

BASE = """\
seed_candidate = { prompt = "labels:" }
train = "train.jsonl"
val = "val.jsonl"
evaluator = "scripted_task_cfg:evaluate"
reflection_function = "scripted_task_cfg:reflect"
max_metric_calls = 60
run_dir = "out"
"""


def write_project(tmp_path: Path, config: str = BASE) -> Path:
    """A config next to its data and a scripted evaluator module."""
    (tmp_path / "scripted_task_cfg.py").write_text(EVALUATOR, encoding="utf-8")
    labels = ["alpha", "beta", "gamma"]
    for name, count in (("train", 6), ("val", 6)):
        rows = [{"id": f"{name}{i}", "label": labels[i % 3]} for i in range(count)]
        text = "\n".join(json.dumps(r) for r in rows) + "\n"
        (tmp_path / f"{name}.jsonl").write_text(text, encoding="utf-8")
    path = tmp_path / "run.toml"
    path.write_text(config, encoding="utf-8")
    return path


def test_scripted_run_end_to_end(tmp_path: Path) -> None:
    config = load_config(write_project(tmp_path))
    assert config.run_dir == tmp_path / "out"
    assert config.report == tmp_path / "out" / "report.html"
    result = run_from_config(config, progress=False)
    assert result.best_score == 1.0
    assert (tmp_path / "out" / "result.json").is_file()
    assert "lineage-chart" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_options_reach_optimize(tmp_path: Path) -> None:
    text = BASE + "report = false\n[options]\nuse_merge = false\nreflection_minibatch_size = 2\n"
    config = load_config(write_project(tmp_path, text))
    assert config.report is None
    assert config.options == {"use_merge": False, "reflection_minibatch_size": 2}
    result = run_from_config(config, progress=False)
    assert all(p.kind != "merge" for p in result.proposals)
    assert not (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (('train = "train.jsonl"', 'train = "nope.jsonl"'), "train", "does not exist"),
        (
            ("max_metric_calls = 60", 'max_metric_calls = "60"'),
            "max_metric_calls",
            "must be a positive integer",
        ),
        (
            ("max_metric_calls = 60", 'max_metric_calls = 60\nauto = "light"'),
            "auto",
            "give one of",
        ),
        (('evaluator = "scripted_task_cfg:evaluate"', ""), "evaluator", "give one of"),
        (
            ('evaluator = "scripted_task_cfg:evaluate"', 'evaluator = "no_colon"'),
            "evaluator",
            "package.module:function",
        ),
        (
            ('seed_candidate = { prompt = "labels:" }', "seed_candidate = { prompt = 3 }"),
            "seed_candidate",
            "must be strings",
        ),
        (('run_dir = "out"', 'run_dir = "out"\nworkerz = 2'), "workerz", "unknown field"),
        (
            ('run_dir = "out"', 'run_dir = "out"\n[options]\nseed = 3'),
            "options.seed",
            "set it at the top level",
        ),
        (
            ('run_dir = "out"', 'run_dir = "out"\n[options]\nfoo = 3'),
            "options.foo",
            "not an optimize() option",
        ),
        (('run_dir = "out"', 'run_dir = "out"\nworkers = 0'), "workers", "positive integer"),
        (('run_dir = "out"', 'run_dir = ""'), "run_dir", "non-empty path"),
        (
            ('run_dir = "out"', 'run_dir = "out"\n[options]\nuse_merge = "no"'),
            "options.use_merge",
            "must be true or false, got 'no'",
        ),
        (
            ('run_dir = "out"', 'run_dir = "out"\n[options]\ntimeout = nan'),
            "options.timeout",
            "finite number",
        ),
        (
            ('run_dir = "out"', 'run_dir = "out"\n[options]\nstop_callback = "x"'),
            "options.stop_callback",
            "not an optimize() option",
        ),
    ],
)
def test_errors_name_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    text = BASE.replace(*change)
    path = write_project(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert f"field {field!r}" in str(info.value)
    assert message in str(info.value)


def test_program_table(tmp_path: Path) -> None:
    text = BASE.replace('evaluator = "scripted_task_cfg:evaluate"', "") + textwrap.dedent(
        """
        [program]
        task_lm = "local"
        labels = ["alpha", "beta"]
        metric = "scripted_task_cfg:metric"
        max_tokens = 8
        """
    )
    config = load_config(write_project(tmp_path, text))
    assert config.program is not None
    assert config.program.labels == ("alpha", "beta")
    assert config.program.max_tokens == 8
    bad = text.replace("max_tokens = 8", "max_tokenz = 8")
    with pytest.raises(ConfigError, match="field 'program': unknown key 'max_tokenz'"):
        load_config(write_project(tmp_path, bad))


def test_missing_module_and_function(tmp_path: Path) -> None:
    for ref, message in (
        ("missing_mod_xyz:f", "cannot import"),
        ("scripted_task_cfg:nope", "no callable"),
    ):
        path = write_project(tmp_path, BASE.replace("scripted_task_cfg:evaluate", ref))
        with pytest.raises(ConfigError, match=f"field 'evaluator': .*{message}"):
            run_from_config(load_config(path), progress=False)


def test_bad_toml_and_jsonl(tmp_path: Path) -> None:
    path = write_project(tmp_path, "seed_candidate = {")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: each line must be a JSON object"):
        load_jsonl(bad)


def test_every_field_documented() -> None:
    assert set(FIELDS) >= {"seed_candidate", "train", "val", "evaluator", "program", "report"}
    assert all(text.strip() for text in FIELDS.values())


def test_the_options_table_is_documented_from_the_option_table() -> None:
    for name in TOML_OPTIONS:
        assert f"    {name}: {OPTIONS[name].toml_kind}" in FIELDS["options"]
    assert OPTIONS["workers"].doc in FIELDS["workers"]
    assert not {"callbacks", "store", "stop_callback", "trainset"} & set(TOML_OPTIONS)


def test_shipped_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "intent.toml"
    config = load_config(example)
    assert config.program is not None and config.program.task_lm.startswith("local")
    assert len(load_jsonl(config.train)) == 30
    assert config.val is not None and len(load_jsonl(config.val)) == 30


def test_jsonl_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    assert [r["id"] for r in load_jsonl(path)] == ["a", "b"]


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_string(k)} = {_toml(v)}" for k, v in value.items())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return "{" + inner + "}"
    return json.dumps(value)


TOML_VALUES = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5),
        st.sampled_from(["pareto", "all", "thread", "{examples}", "", "light"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(TOML_OPTIONS), value=TOML_VALUES)
def test_fuzz_the_options_table_accepts_exactly_what_optimize_accepts(
    tmp_path: Path, name: str, value: Any
) -> None:
    path = write_project(tmp_path, BASE + f"[options]\n{name} = {_toml(value)}\n")
    try:
        config = load_config(path)
    except ConfigError as error:
        assert f"options.{name}" in str(error), error
        with pytest.raises(ConfigError):
            check_option(name, value)
    else:
        assert check_option(name, config.options[name]) == value or value != value


def test_csv_datasets_in_a_config(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    for name in ("train", "val"):
        rows = [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        csv_text = "id,label\n" + "".join(f"{r['id']},{r['label']}\n" for r in rows)
        (tmp_path / f"{name}.csv").write_text(csv_text, encoding="utf-8")
    path.write_text(path.read_text().replace(".jsonl", ".csv"), encoding="utf-8")
    result = run_from_config(load_config(path), progress=False)
    assert result.best_score == 1.0


def test_the_draw_options_are_toml_options_and_reach_optimize(tmp_path: Path) -> None:
    assert {"eval_repeats", "reuse_evaluations"} <= set(TOML_OPTIONS)
    text = BASE + "[options]\neval_repeats = 2\nreuse_evaluations = false\n"
    config = load_config(write_project(tmp_path, text))
    assert config.options == {"eval_repeats": 2, "reuse_evaluations": False}
    result = run_from_config(config, progress=False)
    assert result.total_metric_calls <= 60
    assert result.cache_hits == 0
    assert len(result.val_subscores[0]) == 6  # the seed: 6 examples, 2 draws each
    assert result.discovery_eval_counts[1] >= 12 + 2 * 2 * 3
    bad = BASE + "[options]\neval_repeats = 0\n"
    with pytest.raises(ConfigError, match="eval_repeats"):
        load_config(write_project(tmp_path, bad))
