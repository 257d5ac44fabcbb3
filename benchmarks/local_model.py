"""Benchmark the embedded local models: load time, prompt/generation speed, RSS, concurrency.

Run: python benchmarks/local_model.py [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]

Each model is measured in its own subprocess so RSS and load time are not mixed.
Prompt and generation speeds are llama.cpp's own timings of one request over the
HTTP endpoint; concurrency is wall-clock throughput of `LocalLM.complete` from threads.
The machine load average is printed: other processes on a 2-core box skew all numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gepakit.lm.base import Message
from gepakit.local import LocalLM, local_lm

LONG_PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(60))
CODE_TASKS = [
    "Write a Python class for a bank account with deposit, withdraw and history methods.",
    "Write a Python function that parses a CSV line with quoted fields, with comments.",
    "Write a Python LRU cache class without functools, with docstrings.",
    "Write a Python function to merge overlapping intervals, then explain it.",
]


def _http_timings(lm: LocalLM, messages: list[Message], max_tokens: int) -> dict[str, Any]:
    body = {
        "model": lm.spec.name,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "cache_prompt": False,
    }
    request = urllib.request.Request(
        f"{lm.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:  # loopback only
        return json.loads(response.read())["timings"]


def _throughput(lm: LocalLM, concurrency: int, max_tokens: int) -> float:
    def one(task: str) -> int:
        reply = lm.complete([{"role": "user", "content": task}], max_tokens=max_tokens)
        return reply.completion_tokens

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(one, CODE_TASKS))
    return tokens / (time.perf_counter() - started)


def measure(name: str, concurrency: bool) -> dict[str, Any]:
    """Measure one model in this process."""
    lm = local_lm(name)
    lm.model_file  # assemble (or verify) outside the timed load  # noqa: B018
    lm.start()
    _http_timings(lm, [{"role": "user", "content": "warm up"}], 4)
    nonce = [{"role": "system", "content": f"Run {time.time_ns()}."}]
    prompt = _http_timings(lm, [*nonce, {"role": "user", "content": LONG_PROMPT}], 1)
    gen = _http_timings(lm, [*nonce, {"role": "user", "content": CODE_TASKS[0]}], 128)
    result: dict[str, Any] = {
        "model": name,
        "load_s": lm.load_seconds,
        "prompt_tokens": prompt["prompt_n"],
        "prompt_tok_s": prompt["prompt_per_second"],
        "gen_tok_s": gen["predicted_per_second"],
    }
    if concurrency:
        result["tput_1"] = _throughput(lm, 1, 64)
        result["tput_4"] = _throughput(lm, 4, 64)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return result


def _row(r: dict[str, Any]) -> str:
    def fmt(key: str, spec: str) -> str:
        return format(r[key], spec) if key in r else "-"

    return (
        f"| {r['model']} | {fmt('load_s', '.2f')} | {fmt('prompt_tok_s', '.0f')} "
        f"({r['prompt_tokens']} tok) | {fmt('gen_tok_s', '.1f')} | {fmt('peak_rss_gb', '.2f')} "
        f"| {fmt('tput_1', '.1f')} | {fmt('tput_4', '.1f')} |"
    )


def main() -> None:
    """Measure each model in a subprocess and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="*", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.concurrency)))
        return
    rows = []
    load_before = os.getloadavg()[0]
    for i, name in enumerate(args.models):
        cmd = [sys.executable, __file__, "--one", name] + (["--concurrency"] if i == 0 else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    load_after = os.getloadavg()[0]
    print(f"1-min load average before: {load_before:.2f}, after: {load_after:.2f}")
    print(f"cores: {os.cpu_count()}, threads per model: 2")
    print(
        "| model | load s | prompt tok/s | gen tok/s | peak RSS GB "
        "| 4 reqs 1-at-a-time tok/s | 4 reqs concurrent tok/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(_row(r))


if __name__ == "__main__":
    main()
