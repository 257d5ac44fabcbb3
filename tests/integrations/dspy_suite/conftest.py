"""Runs DSPy's own GEPA tests against gepakit.dspy.GEPA (see README.md in this folder).

The test files are DSPy's, changed only in the import of `GEPA` (and `DspyGEPAResult`).
This conftest gives them what DSPy's own conftest does (fresh DSPy settings per test),
runs them from a folder where their fixture paths (``tests/teleprompt/*.json``) resolve,
relaxes pytest's warnings-as-errors for them (DSPy and pydantic warn on their own), and
marks the tests that cannot pass here as expected failures, each with its reason.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

RECORDED_PROMPTS = (
    "replays LM calls recorded with gepa's own reflection prompt (DictDummyLM asserts every "
    "message was recorded); dspy.GEPA 3.4.1 fails it too"
)
BUDGET = (
    "the budget is smaller than one proposal (seed valset + parent and child minibatch): "
    "dspy.GEPA overshoots max_metric_calls to make it, gepakit's budget is exact and stops; "
    "with a budget that fits one proposal it passes"
)
EXPECTED_FAILURES: dict[str, tuple[str, bool]] = {
    "test_basic_workflow[True]": (RECORDED_PROMPTS, True),
    "test_basic_workflow[False]": (RECORDED_PROMPTS, True),
    "test_workflow_with_custom_instruction_proposer_and_component_selector": (
        RECORDED_PROMPTS + "; " + BUDGET,
        True,
    ),
    "test_multi_objective_frontier_results": (
        "expects candidate 1 to lead correctness, a candidate written from the recorded "
        "reflection replies (DictDummyLM asserts the exact recorded prompt, so no gepakit "
        "proposal gets one); dspy.GEPA 3.4.1 does not reach candidate 1 either. Also needs "
        "gepa_kwargs frontier_type='objective' in gepakit.optimize",
        False,
    ),
    "test_gepa_rejects_unsupported_reflection_cost_budget": (
        "dspy.GEPA rejects gepa_kwargs max_reflection_cost; gepakit supports it (as "
        "max_cost_usd) and passes it on",
        True,
    ),
    "test_reflection_lm_gets_structured_images": (BUDGET, False),
    "test_image_serialization_into_strings": (BUDGET, False),
    "test_default_proposer[True]": (
        "asserts DSPy 3.3.1's default proposer, which sent images as serialized text; "
        "dspy.GEPA 3.4.1 (and gepakit) send them as image parts, so 3.4.1 fails it too",
        True,
    ),
    "test_default_proposer[False]": (
        "asserts DSPy 3.3.1's default proposer, which sent images as serialized text; "
        "dspy.GEPA 3.4.1 (and gepakit) send them as image parts, so 3.4.1 fails it too",
        True,
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.filterwarnings("ignore"))
        expected = EXPECTED_FAILURES.get(item.name)
        if expected is not None:
            reason, strict = expected
            item.add_marker(pytest.mark.xfail(reason=reason, strict=strict))


@pytest.fixture(autouse=True)
def dspy_test_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What DSPy's conftest does: fresh settings and an in-memory cache per test."""
    import dspy
    from dspy.dsp.utils.settings import DEFAULT_CONFIG

    monkeypatch.chdir(FIXTURES)
    original_cache = dspy.cache  # pyright: ignore[reportAttributeAccessIssue]
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True, disk_cache_dir=None)
    try:
        yield
    finally:
        dspy.configure(**copy.deepcopy(DEFAULT_CONFIG), inherit_config=False)
        dspy.cache = original_cache  # pyright: ignore[reportAttributeAccessIssue]
