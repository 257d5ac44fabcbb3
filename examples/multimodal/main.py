"""A multimodal DSPy program: images in, text out, instructions optimized with GEPA.

Each input is a small picture of one coloured shape (drawn by this script as a PNG, no
files or downloads); the program names the shape and its colour. The pictures reach the
task LM as images, and when GEPA reflects, the examples it shows the reflection LM
carry the images too, as real image parts for an LM that accepts them (what DSPy's
`MultiModalInstructionProposer` does) — so the reflection model can see what the task
model misread.

The embedded local models read text only, so this example needs a vision model:

    python examples/multimodal/main.py --task-lm openai/gpt-4o-mini --reflection-lm openai/gpt-4o

Its smoke test runs it offline with scripted LMs.
"""

from __future__ import annotations

import argparse
import base64
import random
import struct
import zlib
from typing import Any, cast

import dspy

from gepakit.dspy import GEPA, DspyGEPAResult

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220)}
SHAPES = ("square", "circle", "triangle")


def _inside(shape: str, x: int, y: int, size: int) -> bool:
    c = size / 2
    if shape == "square":
        return size * 0.2 <= x <= size * 0.8 and size * 0.2 <= y <= size * 0.8
    if shape == "circle":
        return (x - c) ** 2 + (y - c) ** 2 <= (size * 0.32) ** 2
    return y >= size * 0.2 and abs(x - c) <= (y - size * 0.2) * 0.6 and y <= size * 0.8


def png_data_uri(shape: str, color: str, size: int = 32) -> str:
    """A PNG of one shape on white, as a data URI (pure Python: zlib + struct)."""
    rgb = COLORS[color]
    rows = b"".join(
        b"\x00"
        + b"".join(
            bytes(rgb) if _inside(shape, x, y, size) else b"\xff\xff\xff" for x in range(size)
        )
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    png += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def make_examples(seed: int = 0) -> list[dspy.Example]:
    rng = random.Random(seed)
    pairs = [(s, c) for s in SHAPES for c in COLORS] * 3
    rng.shuffle(pairs)
    return [
        dspy.Example(
            id=f"img{k:02d}", image=dspy.Image(url=png_data_uri(s, c)), shape=s, color=c
        ).with_inputs("image")
        for k, (s, c) in enumerate(pairs)
    ]


class Describe(dspy.Signature):
    """Describe the picture."""

    image: dspy.Image = dspy.InputField()
    shape: str = dspy.OutputField()
    color: str = dspy.OutputField()


def metric(
    gold: dspy.Example,
    pred: dspy.Prediction,
    trace: Any = None,
    pred_name: str | None = None,
    pred_trace: Any = None,
) -> dspy.Prediction:
    """Half a point each for the shape and the colour, with feedback on what was wrong."""
    shape = str(pred.get("shape", "")).strip().lower()
    color = str(pred.get("color", "")).strip().lower()
    notes = []
    if shape != gold.shape:
        notes.append(f"the shape is {gold.shape}, not {shape!r} (one of {', '.join(SHAPES)})")
    if color != gold.color:
        notes.append(f"the colour is {gold.color}, not {color!r} (one of {', '.join(COLORS)})")
    score = ((shape == gold.shape) + (color == gold.color)) / 2
    return dspy.Prediction(score=score, feedback="; ".join(notes) or "Correct.")


def run(
    task_lm: dspy.BaseLM, reflection_lm: Any, *, budget: int, threads: int = 2
) -> tuple[dspy.Module, float]:
    """Optimize; return the program and its best val score."""
    rows = make_examples()
    dspy.configure(lm=task_lm)
    optimizer = GEPA(
        metric=metric,
        max_metric_calls=budget,
        reflection_lm=reflection_lm,
        num_threads=threads,
        track_stats=True,
    )
    optimized = optimizer.compile(dspy.Predict(Describe), trainset=rows[:12], valset=rows[12:])
    # compile attaches the run's results to the program; dspy.Module does not declare them.
    details = cast(DspyGEPAResult, optimized.detailed_results)
    return optimized, details.val_aggregate_scores[details.best_idx]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--task-lm", default="openai/gpt-4o-mini")
    parser.add_argument("--reflection-lm", default="openai/gpt-4o")
    parser.add_argument("--budget", type=int, default=80)
    args = parser.parse_args(argv)
    task = dspy.LM(args.task_lm, temperature=0.0)
    reflection = dspy.LM(args.reflection_lm, temperature=1.0, max_tokens=8000)
    optimized, best = run(task, reflection, budget=args.budget)
    # DSPy leaves Predict.signature undeclared; it holds a Signature class.
    print(cast("type[dspy.Signature]", optimized.signature).instructions)
    print(f"best val score: {best:.1%}")


if __name__ == "__main__":
    main()
