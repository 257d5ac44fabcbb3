"""What identifies a run: seed, datasets and search configuration, as JSON.

A run directory stores this *spec* when the run starts. Resuming compares the
stored spec with the new call's: anything that changes the search (and so would
make the stored history replay differently) must match; the budget and the stop
conditions may change, so a finished run can be extended.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from gepakit.engine.state import SearchConfig
from gepakit.options import OPTIONS, strategy_name
from gepakit.types import Candidate, Example, content_hash, to_jsonable

SPEC_VERSION = 1

COMPARED_SEARCH_KEYS = tuple(o.spec_key for o in OPTIONS.values() if o.spec_key is not None)
"""Search settings that shape the trajectory: a resume must not change them (the options
with a `spec_key` in `gepakit.options.OPTIONS`)."""

# Keys added after runs were stored without them: a stored spec lacking one had this value.
_SEARCH_DEFAULTS: dict[str, Any] = {
    "frontier_type": "instance",
    "val_evaluation_policy": "full",
    "batch_sampler": "epoch",
    "merge_val_overlap_floor": 5,
    "eval_repeats": 1,
    "reuse_evaluations": True,
}


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a function, class or (for other objects) their class."""
    target = obj if inspect.isroutine(obj) or inspect.isclass(obj) else type(obj)
    module = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    return f"{module}.{name}"


def default_evaluator_id(evaluator: Any) -> str:
    """The evaluator's `evaluator_id` attribute, else its qualified name."""
    given = getattr(evaluator, "evaluator_id", None)
    return given if isinstance(given, str) and given else qualified_name(evaluator)


def describe(obj: Any, depth: int = 0) -> Any:
    """A JSON description of a strategy object: its name and public settings.

    Built-in strategies are described by the name `optimize` accepts; callables by
    their qualified name; other objects by class name and public attributes.
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return to_jsonable(obj)
    name = strategy_name(obj)
    params = _public_attrs(obj, depth)
    if name is not None:
        return name if not params else {"name": name, **params}
    if inspect.isroutine(obj) or inspect.isclass(obj):
        return qualified_name(obj)
    if isinstance(obj, (list, tuple)):
        return [describe(x, depth + 1) for x in obj]  # pyright: ignore[reportUnknownVariableType]
    return {"name": qualified_name(obj), **params}


def _public_attrs(obj: Any, depth: int) -> dict[str, Any]:
    if depth > 2:
        return {}
    attrs: dict[str, Any] = {}
    names = list(getattr(obj, "__dict__", {}))
    for slot in getattr(type(obj), "__slots__", ()):
        names.append(slot)
    for key in names:
        if key.startswith("_") or not hasattr(obj, key):
            continue
        attrs[key] = describe(getattr(obj, key), depth + 1)
    return attrs


def dataset_fingerprint(examples: Sequence[Example]) -> dict[str, Any]:
    """Size, hash of the ids in order, and hash of the contents of a split.

    The content hash is None when some example holds objects JSON cannot represent
    (their repr may change between processes); only the ids are compared then.
    """
    content = json.dumps(to_jsonable([[e.id, e.data] for e in examples]), sort_keys=True)
    stable = '"__repr__"' not in content
    return {
        "size": len(examples),
        "ids": content_hash([e.id for e in examples]),
        "content": hashlib.sha256(content.encode("utf-8")).hexdigest()[:16] if stable else None,
    }


def run_spec(
    seed: Candidate,
    train: Sequence[Example],
    val: Sequence[Example],
    config: SearchConfig,
    *,
    failure_score: float,
    evaluator_id: str,
    max_metric_calls: int,
) -> dict[str, Any]:
    """The JSON spec of a run (see the module docstring)."""
    search: dict[str, Any] = {
        "minibatch_size": config.minibatch_size,
        "perfect_score": config.perfect_score,
        "skip_perfect_score": config.skip_perfect_score,
        "use_merge": config.use_merge,
        "max_merge_invocations": config.max_merge_invocations,
        "merge_subsample_size": config.merge_subsample_size,
        "max_concurrent_proposals": config.max_concurrent_proposals,
        "track_best_outputs": config.track_best_outputs,
        "seed": config.seed,
        "candidate_selector": describe(config.candidate_selector),
        "component_selector": describe(config.component_selector),
        "acceptance": describe(config.acceptance),
        "failure_score": failure_score,
        "frontier_type": config.frontier_type,
        "val_evaluation_policy": describe(config.val_policy),
        "batch_sampler": (
            "epoch" if config.batch_sampler is None else describe(config.batch_sampler)
        ),
        "merge_val_overlap_floor": config.merge_val_overlap_floor,
        "eval_repeats": config.eval_repeats,
        "reuse_evaluations": config.reuse_evaluations,
    }
    return {
        "spec_version": SPEC_VERSION,
        "seed_candidate": dict(seed.components),
        "train": dataset_fingerprint(train),
        "val": dataset_fingerprint(val),
        "evaluator_id": evaluator_id,
        "search": search,
        "max_metric_calls": max_metric_calls,
        "stop_conditions": [describe(c) for c in config.stop_conditions],
    }


def spec_differences(
    stored: Mapping[str, Any],
    new: Mapping[str, Any],
    stored_examples: Mapping[str, Sequence[Example]],
    new_examples: Mapping[str, Sequence[Example]],
) -> list[str]:
    """Human-readable differences that forbid resuming `stored` with `new`."""
    diffs = _seed_differences(stored.get("seed_candidate", {}), new["seed_candidate"])
    for split in ("train", "val"):
        old_fp: Mapping[str, Any] = stored.get(split, {})
        new_fp: Mapping[str, Any] = new[split]
        same_ids = old_fp.get("ids") == new_fp["ids"]
        unstable = old_fp.get("content") is None or new_fp["content"] is None
        if not same_ids or (not unstable and old_fp.get("content") != new_fp["content"]):
            diffs.append(_dataset_difference(split, stored_examples[split], new_examples[split]))
    if stored.get("evaluator_id") != new["evaluator_id"]:
        diffs.append(
            f"evaluator_id: stored {stored.get('evaluator_id')!r}, given "
            f"{new['evaluator_id']!r} (pass evaluator_id={stored.get('evaluator_id')!r} "
            "if it is the same evaluator)"
        )
    old_search: Mapping[str, Any] = stored.get("search", {})
    for key in COMPARED_SEARCH_KEYS:
        old_value = old_search.get(key, _SEARCH_DEFAULTS.get(key))
        if old_value != new["search"].get(key):
            diffs.append(f"{key}: stored {old_value!r}, given {new['search'][key]!r}")
    return diffs


def _seed_differences(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    if dict(old) == dict(new):
        return []
    parts = []
    if set(old) != set(new):
        parts.append(f"components {sorted(old)} stored, {sorted(new)} given")
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    if changed:
        parts.append(f"text of {', '.join(repr(k) for k in changed)} differs")
    return [f"seed_candidate: {'; '.join(parts)}"]


def _dataset_difference(split: str, old: Sequence[Example], new: Sequence[Example]) -> str:
    name = f"{split}set"
    old_ids, new_ids = [e.id for e in old], [e.id for e in new]
    if old_ids != new_ids:
        gone = [i for i in old_ids if i not in set(new_ids)]
        added = [i for i in new_ids if i not in set(old_ids)]
        detail = f"{len(old_ids)} examples stored, {len(new_ids)} given"
        if gone:
            detail += f"; {len(gone)} stored ids missing (e.g. {gone[0]!r})"
        if added:
            detail += f"; {len(added)} new ids (e.g. {added[0]!r})"
        if not gone and not added:
            detail += "; same ids in another order"
        return f"{name}: {detail}"
    changed = [
        o.id for o, n in zip(old, new, strict=True) if content_hash(o.data) != content_hash(n.data)
    ]
    if changed:
        return (
            f"{name}: same ids but the content of {len(changed)} examples differs "
            f"(e.g. {changed[0]!r})"
        )
    return f"{name}: content differs"
