"""`load_examples`: JSONL, JSON, CSV/TSV files, Hugging Face-like datasets, DataFrames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gepakit
from gepakit import ConfigError, load_examples

ROWS = [{"id": "a", "text": "hi", "label": "greet"}, {"id": "b", "text": "bye", "label": "leave"}]


def test_jsonl_with_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "hi", "label": "greet"}\n\n'
                     b'{"id": "b", "text": "bye", "label": "leave"}\n')  # fmt: skip
    assert load_examples(path) == ROWS
    assert load_examples(str(path), limit=1) == ROWS[:1]


def test_json_csv_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('[{"id": "a", "text": "hi", "label": "greet"},'
                                     '{"id": "b", "text": "bye", "label": "leave"}]')  # fmt: skip
    assert load_examples(tmp_path / "d.json") == ROWS
    (tmp_path / "d.csv").write_text(
        "\ufeffid,text,label\na,hi,greet\nb,bye,leave\n", encoding="utf-8"
    )
    assert load_examples(tmp_path / "d.csv") == ROWS
    (tmp_path / "d.tsv").write_text("id\ttext\tlabel\na\thi\tgreet\nb\tbye\tleave\n")
    assert load_examples(tmp_path / "d.tsv") == ROWS
    (tmp_path / "quoted.csv").write_text('id,text\nq,"a, b\nc"\n')
    assert load_examples(tmp_path / "quoted.csv") == [{"id": "q", "text": "a, b\nc"}]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"id": 1}\n{oops\n', r"bad.jsonl:2: not valid JSON"),
        ("list.jsonl", "[1, 2]\n", "each line must be a JSON object"),
        ("bad.json", '{"id": 1}', "must hold a list of objects"),
        ("wide.csv", "a,b\n1,2,3\n", r"wide.csv:2: more values than header"),
        ("empty.csv", "a,b\n", "no examples"),
        ("data.parquet", "x", "unknown file type"),
    ],
)
def test_file_errors_name_file_and_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_examples(tmp_path / name)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_examples(tmp_path / "nope.jsonl")
    (tmp_path / "latin.csv").write_bytes(b"id,text\n1,caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_examples(tmp_path / "latin.csv")


class FakeHFDataset:
    """Duck-types `datasets.Dataset`: column_names and to_list()."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.column_names = list(rows[0])

    def to_list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]


class FakeDataFrame:
    """Duck-types `pandas.DataFrame`: columns and to_dict("records")."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.columns = list(rows[0])

    def to_dict(self, orient: str) -> list[dict[str, Any]]:
        assert orient == "records"
        return [dict(r) for r in self.rows]


def test_dataset_objects() -> None:
    assert load_examples(FakeHFDataset(ROWS)) == ROWS
    assert load_examples(FakeDataFrame(ROWS)) == ROWS
    assert load_examples(iter(ROWS)) == ROWS
    splits = {"train": FakeHFDataset(ROWS), "test": FakeHFDataset(ROWS[:1])}
    assert load_examples(splits, split="test") == ROWS[:1]
    with pytest.raises(ConfigError, match=r"splits \['test', 'train'\]; pass split="):
        load_examples(splits)
    with pytest.raises(ConfigError, match="no split 'validation'"):
        load_examples(splits, split="validation")
    with pytest.raises(ConfigError, match="not a mapping"):
        load_examples([1, 2])
    with pytest.raises(ConfigError, match="cannot read examples"):
        load_examples(42)


def test_real_hf_dataset_if_installed() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    assert load_examples(ds) == ROWS


def test_loaded_examples_feed_optimize(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(
        "id,label\n" + "".join(f"e{i},{'ab'[i % 2]}\n" for i in range(6))
    )
    data = load_examples(tmp_path / "d.csv")
    result = gepakit.optimize(
        {"p": "x"}, data[:3], data[3:], evaluator=lambda c, e: float(e["label"] in c["p"]),
        reflection_lm=lambda p: "```\nx a b\n```", max_metric_calls=20, progress=False,
    )  # fmt: skip
    assert result.best_score == 1.0
