"""`load_examples`: examples from JSONL, JSON, CSV/TSV files, Hugging Face `datasets`,
pandas DataFrames or any iterable of mappings, as a list of dicts for `optimize`.

No dependency is imported: Hugging Face and pandas objects are recognised by their
methods, so ``pip install datasets`` is only needed to make one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gepakit.errors import ConfigError

__all__ = ["load_examples"]

_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


def load_examples(
    source: Any, *, split: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The examples in `source`, one dict each, in order.

    Args:
        source: a path (``.jsonl``/``.ndjson``: one JSON object a line; ``.json``: a
            list of objects; ``.csv``/``.tsv``: a header row, then one example a row,
            values as text), a Hugging Face ``Dataset`` (or a ``DatasetDict`` with
            `split`), a pandas ``DataFrame``, or an iterable of mappings.
        split: the split of a ``DatasetDict`` (``"train"``, ``"validation"``...).
        limit: keep the first `limit` examples.

    Returns:
        A list of dicts (files may start with a UTF-8 byte order mark).

    Raises:
        ConfigError: the file is missing or malformed (the message names the line),
            a row is not an object, or there are no examples.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")
    if isinstance(source, (str, Path)):
        rows = _from_file(Path(source))
        name = str(source)
    else:
        rows = _from_object(source, split)
        name = type(source).__name__
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise ConfigError(f"{name}: no examples")
    return rows


def _from_file(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(f"{path}: unknown file type {suffix!r}; use one of {_SUFFIXES}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason}); save it as UTF-8") from None
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(path, text)
    if suffix == ".json":
        return _json(path, text)
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)  # quoted newlines ok
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise ConfigError(f"{path}:{number}: more values than header columns")
        rows.append(dict(row))
    return rows


def _jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{number}: not valid JSON: {error.msg}") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: each line must be a JSON object")
        rows.append(row)
    return rows


def _json(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(f"{path}: a .json file must hold a list of objects")
    return [dict(r) for r in data]


def _from_object(source: Any, split: str | None) -> list[dict[str, Any]]:
    if isinstance(source, Mapping):  # a DatasetDict (or a plain dict of splits)
        splits: Mapping[str, Any] = source
        if split is None:
            raise ConfigError(f"this dataset has splits {sorted(map(str, splits))}; pass split=...")
        if split not in splits:
            raise ConfigError(f"no split {split!r}; the dataset has {sorted(map(str, splits))}")
        source = splits[split]
    elif split is not None:
        raise ConfigError("split= applies to a dataset with splits (a DatasetDict) only")
    to_list = getattr(source, "to_list", None)  # datasets.Dataset
    if callable(to_list) and hasattr(source, "column_names"):
        rows: Any = to_list()
    elif callable(getattr(source, "to_dict", None)) and hasattr(source, "columns"):
        rows = source.to_dict("records")  # pandas.DataFrame
    elif isinstance(source, Iterable) and not isinstance(source, (str, bytes)):
        rows = list(source)
    else:
        raise ConfigError(
            f"cannot read examples from {type(source).__name__}; give a file path, a "
            "Hugging Face Dataset, a pandas DataFrame or a list of dicts"
        )
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigError(f"example {i} is a {type(row).__name__}, not a mapping")
        out.append({str(k): v for k, v in row.items()})
    return out
