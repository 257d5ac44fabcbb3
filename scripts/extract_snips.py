"""Extract the SNIPS intent data from BIG-bench's `intent_recognition` task.

Reproduces ``src/gepakit/data/intent_recognition.jsonl`` from the bigbench 1.0.0 sdist,
so the project never depends on bigbench itself.

Usage::

    # let the script fetch the sdist with pip (about 360 MB)
    python scripts/extract_snips.py

    # or point it at a downloaded sdist (.tar.gz) or an unpacked copy of it
    python scripts/extract_snips.py --source /path/to/bigbench-1.0.0.tar.gz

Why the pip dance: ``pip download --no-binary :all: bigbench==1.0.0`` downloads and
unpacks the sdist, then refuses it because its metadata declares a ``file://``
dependency on bleurt. With ``--no-clean`` and a private ``TMPDIR`` the unpacked tree
stays behind, and the task file is read from there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TASK_PATH = "bigbench/benchmark_tasks/intent_recognition/task.json"
PREFIX = "Utterance:"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/gepakit/data/intent_recognition.jsonl"


def read_task_from_tarball(path: Path) -> dict[str, Any]:
    """Read the task JSON from a bigbench sdist tarball."""
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.name.endswith(TASK_PATH):
                handle = tar.extractfile(member)
                if handle is not None:
                    return json.loads(handle.read().decode("utf-8"))
    raise SystemExit(f"{TASK_PATH} not found in {path}")


def read_task_from_tree(root: Path) -> dict[str, Any]:
    """Read the task JSON from an unpacked sdist (searched below `root`)."""
    direct = root / TASK_PATH
    hits = [direct] if direct.is_file() else sorted(root.glob(f"**/{TASK_PATH}"))
    if not hits:
        raise SystemExit(f"{TASK_PATH} not found below {root}")
    return json.loads(hits[0].read_text(encoding="utf-8"))


def fetch_with_pip(workdir: Path) -> dict[str, Any]:
    """Download the sdist with pip into `workdir` and read the task file."""
    env = {**os.environ, "TMPDIR": str(workdir)}
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--no-clean", "bigbench==1.0.0", "-d", str(workdir / "dl")]
    # Expected to fail after unpacking (see the module docstring); the tree stays.
    subprocess.run(cmd, env=env, check=False)
    for tarball in (workdir / "dl").glob("bigbench-*.tar.gz"):
        return read_task_from_tarball(tarball)
    return read_task_from_tree(workdir)


def clean_rows(task: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Turn BIG-bench examples into ``{"id", "text", "label"}`` rows, in source order."""
    for index, example in enumerate(task["examples"]):
        text = str(example["input"]).strip()
        if text.startswith(PREFIX):
            text = text[len(PREFIX) :].strip()
        labels = [name for name, value in example["target_scores"].items() if value == 1]
        if len(labels) != 1:
            raise SystemExit(f"example {index} has {len(labels)} correct intents, expected 1")
        yield {"id": f"snips-{index:03d}", "text": text, "label": labels[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract SNIPS data from the bigbench sdist.")
    parser.add_argument("--source", type=Path, help="sdist .tar.gz or unpacked directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.source is None:
        with tempfile.TemporaryDirectory(prefix="bigbench-") as tmp:
            task = fetch_with_pip(Path(tmp))
    elif args.source.is_dir():
        task = read_task_from_tree(args.source)
    else:
        task = read_task_from_tarball(args.source)
    rows = list(clean_rows(task))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
