"""Benchmark reflection templates: first proposals on the demo task, scored on val.

Run: python benchmarks/reflection_prompt.py [--proposals 12] [--templates default prose]

For each template, draws the same `--proposals` minibatches of 3 training examples,
runs the seed prompt on them with the 0.5B task model, asks the 1.5B reflection model
(demo settings: temperature 0, `gepakit.demo.REFLECTION_PARAMS`) for a new prompt
through the template's profile (`default` and `prose`: the compact one, so parsing and
`gepakit.engine.tidy` apply; `general`: the general profile), and scores
every proposal on the 30 val examples. The table compares templates side by side:
mean and best val accuracy of the proposals, how many reach 0.5, how many replies were
rejected by the parser, and seconds per reflection. Needs the `local` extra; the
machine should be otherwise idle (2 cores: ~4 min per template at 12 proposals).

`prose` is the template gepakit shipped before 2026-11-26 (a request in prose with
no shape to fill in), kept here as the baseline.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from gepakit.data import INTENT_LABELS, load_intent_dataset
from gepakit.demo import REFLECTION_PARAMS, SEED_PROMPT, TASK_MAX_TOKENS, evaluate_prompt
from gepakit.engine.profiles import make_proposer
from gepakit.engine.profiles.compact import COMPACT_TEMPLATE
from gepakit.engine.prompts import DEFAULT_TEMPLATE
from gepakit.engine.reflection import (
    ReflectionRequest,
    ReflectiveProposer,
    build_reflective_dataset,
)
from gepakit.lm import UsageLedger, resolve_lm
from gepakit.lm.resolve import as_prompt_fn
from gepakit.programs import PromptProgram
from gepakit.types import Rollout

PROSE_TEMPLATE = """You are improving the instructions that a small AI assistant follows.
The instructions are called "{component}". Here they are now:

```
{current_text}
```

The assistant followed these instructions on the inputs below. Each example shows the input,
the assistant's answer and feedback on that answer.

{examples}
{format_hints}{rejected}
Now write better instructions. They must work on their own for new inputs, because the
assistant never sees these examples or this feedback. State the task in one sentence, then
the exact reply format, and copy the list of allowed answers if the feedback gives one; the
assistant must never answer anything outside that list. For each mistake above, add one
short general rule: "If the input ..., answer ...". Do not copy the examples. Write plain
sentences, not JSON and not Markdown headings. Use at most 150 words.

Reply with the new instructions inside one ``` block and nothing else."""
TEMPLATES = {"default": COMPACT_TEMPLATE, "prose": PROSE_TEMPLATE, "general": DEFAULT_TEMPLATE}


def _reflect_once(
    program: PromptProgram,
    proposer: ReflectiveProposer,
    batch: list[dict[str, str]],
) -> tuple[str | None, str, float]:
    candidate = {program.component: SEED_PROMPT}
    rollouts = []
    for i, example in enumerate(batch):
        score = program(candidate, example)
        rollouts.append(
            Rollout(
                candidate_id="seed",
                example_id=str(i),
                split="train",
                score=score.score,
                feedback=score.feedback,
                output=score.output,
                trace=score.trace,
            )
        )
    dataset = build_reflective_dataset(rollouts, batch, [program.component])
    request = ReflectionRequest(
        candidate=candidate, reflective_dataset=dataset, components=(program.component,)
    )
    started = time.perf_counter()
    reply = proposer.propose(request)
    seconds = time.perf_counter() - started
    return reply.texts.get(program.component), reply.reasons.get(program.component, ""), seconds


def run_template(
    name: str,
    template: str,
    program: PromptProgram,
    prompt_fn: Callable[[str], str],
    batches: list[list[dict[str, str]]],
    val: list[dict[str, str]],
    verbose: bool,
) -> dict[str, object]:
    profile = "general" if template is DEFAULT_TEMPLATE else "compact"
    proposer = make_proposer(profile, prompt_fn, templates=template)
    scores: list[float] = []
    rejected = 0
    seconds: list[float] = []
    for i, batch in enumerate(batches):
        text, reason, secs = _reflect_once(program, proposer, batch)
        seconds.append(secs)
        if text is None:
            rejected += 1
            scores.append(0.0)
            if verbose:
                print(f"[{name} {i}] rejected: {reason}", flush=True)
            continue
        scores.append(evaluate_prompt(program, text, val))
        if verbose:
            print(f"[{name} {i}] val {scores[-1]:.2f}\n{text}\n", flush=True)
    return {
        "template": name,
        "n": len(batches),
        "mean_val": statistics.fmean(scores),
        "best_val": max(scores),
        "at_least_0.5": sum(s >= 0.5 for s in scores),
        "rejected": rejected,
        "s_per_reflection": statistics.fmean(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--proposals", type=int, default=12)
    parser.add_argument("--templates", nargs="+", default=list(TEMPLATES), choices=TEMPLATES)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every proposal")
    args = parser.parse_args()
    train, val, _ = load_intent_dataset(0, 30, 30, 150)
    ledger = UsageLedger()
    task_lm = resolve_lm("local/qwen2.5-coder-0.5b", role="task", ledger=ledger)
    reflection_lm = resolve_lm(
        "local/qwen2.5-coder-1.5b", role="reflection", ledger=ledger, **REFLECTION_PARAMS
    )
    program = PromptProgram(
        task_lm, user_template="{text}", labels=INTENT_LABELS, max_tokens=TASK_MAX_TOKENS
    )
    rng = random.Random(args.seed)
    batches = [rng.sample(train, 3) for _ in range(args.proposals)]
    prompt_fn = as_prompt_fn(reflection_lm, temperature=0.0)
    rows = [
        run_template(name, TEMPLATES[name], program, prompt_fn, batches, val, args.verbose)
        for name in args.templates
    ]
    header = f"{'template':<10} {'n':>3} {'mean val':>9} {'best':>6} {'>=0.5':>6} "
    header += f"{'rejected':>9} {'s/refl':>7}"
    print(header)
    for row in rows:
        print(
            f"{row['template']:<10} {row['n']:>3} {row['mean_val']:>9.3f} "
            f"{row['best_val']:>6.2f} {row['at_least_0.5']:>6} {row['rejected']:>9} "
            f"{row['s_per_reflection']:>7.1f}"
        )


if __name__ == "__main__":
    main()
