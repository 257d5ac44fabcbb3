"""Build the data of `benchmarks/quality_tasks.py` from the bigbench 1.0.0 sdist on PyPI.

Writes ``benchmarks/data/<task>/examples.jsonl`` for three BIG-bench tasks, each row
with a fixed ``split`` (train / val / test):

- ``sentiment``: ``multiemo/reviews_sentence_en`` (4 sentiment labels, balanced);
- ``restaurant_json``: ``gem/e2e_nlg`` turned around: the restaurant description is the
  input, its attribute list (as a JSON object) the expected output;
- ``object_counting``: ``object_counting``, with the counted items and the decoys of
  each question worked out from the task's generator word lists (for feedback).

Usage::

    python scripts/extract_quality_tasks.py                      # fetch the sdist with pip
    python scripts/extract_quality_tasks.py --source /path/to/bigbench-1.0.0.tar.gz
    python scripts/extract_quality_tasks.py --source /path/to/unpacked/sdist

The pip dance is the one of ``scripts/extract_snips.py`` (see its docstring). The
selection is deterministic (``random.Random(SEED)``), so the files are reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_snips import fetch_with_pip  # sibling script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "data"
SEED = 13
SPLITS = {"train": 60, "val": 20, "test": 100}
TASKS = {
    "sentiment": "bigbench/benchmark_tasks/multiemo/reviews_sentence_en/task.json",
    "restaurant_json": "bigbench/benchmark_tasks/gem/e2e_nlg/task.json",
    "object_counting": "bigbench/benchmark_tasks/object_counting/task.json",
}
SENTIMENT_LABELS = ("positive", "negative", "neutral", "ambivalent")
E2E_KEYS = {
    "name": "name",
    "eatType": "eat_type",
    "food": "food",
    "priceRange": "price_range",
    "customer rating": "customer_rating",
    "area": "area",
    "familyFriendly": "family_friendly",
    "near": "near",
}
# The word lists of bigbench/benchmark_tasks/object_counting/generate_task.py.
COUNTING_KINDS = {
    "animals": "cat rabbit donkey dog mouse cow snake fish bear snail chicken pig duck goat frog",
    "objects": "car chair couch table bed lamp microwave oven stove fridge toaster",
    "vegetables": "carrot|head of broccoli|cabbage|yam|garlic|cauliflower|lettuce head|"
    "stalk of celery|potato|onion",
    "musical instruments": "violin trumpet flute clarinet drum piano trombone accordion",
    "fruits": "strawberry banana grape peach orange apple blackberry plum nectarine raspberry",
}
COUNT_WORDS = {"a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def read_members(source: Path) -> dict[str, bytes]:
    """The raw task files, from a tarball or an unpacked tree."""
    found: dict[str, bytes] = {}
    if source.is_dir():
        for task, rel in TASKS.items():
            hits = [source / rel] if (source / rel).is_file() else sorted(source.glob(f"**/{rel}"))
            if not hits:
                raise SystemExit(f"{rel} not found below {source}")
            found[task] = hits[0].read_bytes()
        return found
    with tarfile.open(source) as tar:
        for member in tar.getmembers():
            for task, rel in TASKS.items():
                if member.name.endswith(rel):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[task] = handle.read()
    missing = set(TASKS) - set(found)
    if missing:
        raise SystemExit(f"not found in {source}: {sorted(missing)}")
    return found


def _split(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Shuffle `rows` and label them train / val / test in the sizes of `SPLITS`."""
    rng.shuffle(rows)
    out: list[dict[str, Any]] = []
    start = 0
    for split, size in SPLITS.items():
        out += [{**row, "split": split} for row in rows[start : start + size]]
        start += size
    return out


def sentiment_rows(task: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """Balanced labels: the same number of each label in every split."""
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for index, example in enumerate(task["examples"]):
        labels = [k for k, v in example["target_scores"].items() if v == 1]
        text = " ".join(str(example["input"]).split())
        if len(labels) == 1 and 40 <= len(text) <= 300:
            by_label[labels[0]].append(
                {"id": f"multiemo-{index:04d}", "text": text, "label": labels[0]}
            )
    out: list[dict[str, Any]] = []
    per_label = {split: size // len(SENTIMENT_LABELS) for split, size in SPLITS.items()}
    for label in SENTIMENT_LABELS:
        pool = by_label[label]
        rng.shuffle(pool)
        start = 0
        for split, size in per_label.items():
            out += [{**row, "split": split} for row in pool[start : start + size]]
            start += size
    order = {split: i for i, split in enumerate(SPLITS)}
    rng.shuffle(out)
    return sorted(out, key=lambda row: order[row["split"]])


def parse_mr(mr: str) -> dict[str, str]:
    """``"name: X, eatType: pub"`` -> ``{"name": "X", "eat_type": "pub"}``."""
    fields: dict[str, str] = {}
    for part in mr.split(", "):
        key, _, value = part.partition(": ")
        fields[E2E_KEYS[key.strip()]] = value.strip()
    return fields


def restaurant_rows(task: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """One description per distinct attribute list (the first reference of each)."""
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index, example in enumerate(task["examples"]):
        mr = str(example["input"])
        if mr in seen:
            continue
        seen.add(mr)
        rows.append(
            {
                "id": f"e2e-{index:04d}",
                "text": " ".join(str(example["target"]).split()),
                "fields": parse_mr(mr),
            }
        )
    return _split(rows, rng)


def _forms(word: str) -> set[str]:
    """Singular and plural spellings of a generator word (inflect's plurals for these)."""
    if " of " in word:
        head, _, tail = word.partition(" of ")
        return {word, f"{head}s of {tail}"}
    irregular = {"mouse": "mice", "fish": "fish"}
    if word in irregular:
        return {word, irregular[word]}
    if word.endswith("y") and word[-2] not in "aeiou":
        return {word, word[:-1] + "ies"}
    if word.endswith(("s", "sh", "ch", "x")) or word in {"potato"}:
        return {word, word + "es"}
    return {word, word + "s"}


def _kind_of() -> dict[str, str]:
    table: dict[str, str] = {}
    for kind, words in COUNTING_KINDS.items():
        for word in words.split("|") if "|" in words else words.split():
            for form in _forms(word):
                table[form] = kind
    return table


def counting_rows(task: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """Questions with their counted items and decoys; checked against the target."""
    kind_of = _kind_of()
    rows: list[dict[str, Any]] = []
    for index, example in enumerate(task["examples"]):
        question = str(example["input"])
        match = re.fullmatch(r"I have (.*)\. How many (.+) do I have\?", question)
        if match is None:
            raise SystemExit(f"object_counting example {index}: unexpected form {question!r}")
        items_text, kind = match.groups()
        counted: list[list[Any]] = []
        decoys: list[str] = []
        for item in re.split(r", (?:and )?|^and | and ", items_text):
            item = item.removeprefix("and ").strip()
            if not item:
                continue
            count_word, _, noun = item.partition(" ")
            if count_word not in COUNT_WORDS or noun not in kind_of:
                raise SystemExit(f"object_counting example {index}: cannot read {item!r}")
            if kind_of[noun] == kind:
                counted.append([item, COUNT_WORDS[count_word]])
            else:
                decoys.append(item)
        answer = int(example["target"][1])
        if sum(n for _, n in counted) != answer:
            raise SystemExit(f"object_counting example {index}: items do not sum to {answer}")
        rows.append(
            {
                "id": f"counting-{index:04d}",
                "question": question,
                "answer": answer,
                "kind": kind,
                "counted": counted,
                "decoys": decoys,
            }
        )
    return _split(rows, rng)


BUILDERS = {
    "sentiment": sentiment_rows,
    "restaurant_json": restaurant_rows,
    "object_counting": counting_rows,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", type=Path, help="sdist .tar.gz or unpacked directory")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.source is None:
        with tempfile.TemporaryDirectory(prefix="bigbench-") as tmp:
            fetch_with_pip(Path(tmp))  # leaves the unpacked tree or the tarball in tmp
            tarballs = sorted((Path(tmp) / "dl").glob("bigbench-*.tar.gz"))
            raw = read_members(tarballs[0] if tarballs else Path(tmp))
    else:
        raw = read_members(args.source)
    for task, data in raw.items():
        rows = BUILDERS[task](json.loads(data.decode("utf-8")), random.Random(SEED))
        out = args.out / task / "examples.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        digest = hashlib.sha256(data).hexdigest()
        print(f"{task}: {len(rows)} rows -> {out} (source task.json sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
