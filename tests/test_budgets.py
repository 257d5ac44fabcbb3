"""Budget presets (`auto`, `max_full_evals`) and the one-budget-option rule."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gepakit import auto_budget
from gepakit.budgets import (
    AUTO_RUNS,
    budget_limit,
    candidates_budget,
    check_budget,
    resolve_budget,
)
from gepakit.errors import ConfigError


def formula(level_runs: int, components: int, valset: int) -> int:
    """The documented formula, written out independently of the implementation."""
    n, v = level_runs, valset
    trials = int(max(2 * (2 * components) * math.log2(n), 1.5 * n))
    full_evals = math.floor((trials + 1) / 5) + 1 + (1 if trials < 5 else 0)
    return v + 5 * n + 35 * trials + full_evals * v


# Worked by hand: P=1, n=6: N = int(max(4 * 2.585, 9)) = 10, full evals = 11 // 5 + 1 = 3,
# so budget = V + 30 + 350 + 3V = 4V + 380. P=1, n=12: N = max(14.3, 18) = 18 -> 5V + 690.
# P=1, n=18: N = max(16.7, 27) = 27 -> 7V + 1035. P=3, n=6: N = int(31.02) = 31 -> 8V + 1115.
@pytest.mark.parametrize(
    ("level", "components", "valset", "expected"),
    [
        ("light", 1, 10, 420),
        ("medium", 1, 10, 740),
        ("heavy", 1, 10, 1105),
        ("light", 3, 20, 1275),
        ("light", 1, 0, 380),
    ],
)
def test_auto_budget_worked_examples(
    level: str, components: int, valset: int, expected: int
) -> None:
    assert auto_budget(level, num_components=components, valset_size=valset) == expected


@pytest.mark.parametrize("level", ["light", "medium", "heavy"])
@pytest.mark.parametrize("components", [1, 2, 5])
@pytest.mark.parametrize("valset", [1, 7, 50])
def test_auto_budget_matches_the_formula(level: str, components: int, valset: int) -> None:
    runs = {"light": 6, "medium": 12, "heavy": 18}[level]
    got = auto_budget(level, num_components=components, valset_size=valset)
    assert got == formula(runs, components, valset)


def test_unknown_auto_level() -> None:
    with pytest.raises(ConfigError, match="auto must be one of"):
        auto_budget("extreme", num_components=1, valset_size=5)


def resolve(**kw: object) -> int:
    args: dict[str, object] = {
        "max_metric_calls": None,
        "auto": None,
        "max_full_evals": None,
        "num_components": 1,
        "train_size": 8,
        "valset_size": 6,
    }
    args.update(kw)
    return resolve_budget(**args)  # type: ignore[arg-type]


def test_max_full_evals_counts_train_plus_val() -> None:
    assert resolve(max_full_evals=3) == 3 * (8 + 6)
    assert resolve(max_metric_calls=77) == 77
    assert resolve(auto="light") == auto_budget("light", num_components=1, valset_size=6)


def test_without_a_valset_auto_counts_the_trainset_and_full_evals_count_train_only() -> None:
    # As in DSPy: the trainset doubles as valset for auto; max_full_evals adds no valset.
    assert resolve(auto="light", valset_size=0) == auto_budget(
        "light", num_components=1, valset_size=8
    )
    assert resolve(max_full_evals=3, valset_size=0) == 3 * 8


def test_max_metric_calls_must_cover_the_seeds_evaluation() -> None:
    with pytest.raises(ConfigError, match=r"^max_metric_calls=5 cannot .* 6 val .* at least 6$"):
        resolve(max_metric_calls=5)
    with pytest.raises(ConfigError, match="on the 8 val examples"):  # no valset: the trainset
        resolve(max_metric_calls=7, valset_size=0)
    assert resolve(max_metric_calls=6) == 6
    assert resolve(auto="light", eval_repeats=2) == 2 * resolve(auto="light")


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"max_metric_calls": 10, "auto": "light"},
        {"max_metric_calls": 10, "max_full_evals": 2},
        {"auto": "light", "max_full_evals": 2},
        {"max_metric_calls": 0},
        {"max_metric_calls": -5},
        {"max_metric_calls": 2.5},
        {"max_metric_calls": True},
        {"max_full_evals": 0},
    ],
)
def test_invalid_budget_options(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        resolve(**kw)


def test_candidates_budget_is_the_auto_formula_for_any_number_of_candidates() -> None:
    for level, runs in AUTO_RUNS.items():
        assert candidates_budget(2, runs, 9) == auto_budget(level, num_components=2, valset_size=9)
    # 1 candidate: log2(1) = 0 and 1.5 trials -> int 1: V + 5 + 35 + (0 + 1 + 1) * V
    assert candidates_budget(1, 1, 10) == 10 + 5 + 35 + 2 * 10
    with pytest.raises(ValueError, match="full_eval_steps"):
        candidates_budget(1, 6, 10, full_eval_steps=0)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "exactly one budget option"),
        ({"auto": "light", "max_full_evals": 2}, "got auto, max_full_evals"),
        ({"auto": 3}, "auto must be one of"),
        ({"max_full_evals": 1.5}, "max_full_evals must be a positive integer"),
        ({"max_metric_calls": True}, "max_metric_calls must be a positive integer"),
    ],
)
def test_check_budget_is_the_one_budget_rule(given: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"max_metric_calls": None, "auto": None, "max_full_evals": None}
    with pytest.raises(ConfigError, match=message):
        check_budget(**{**args, **given})


def test_budget_limit_without_a_valset_counts_the_trainset_once() -> None:
    sizes = {"num_components": 1, "train_size": 8, "valset_size": 0}
    assert budget_limit(max_metric_calls=None, auto=None, max_full_evals=2, **sizes) == 16
    assert budget_limit(max_metric_calls=None, auto="light", max_full_evals=None, **sizes) == (
        auto_budget("light", num_components=1, valset_size=8)
    )


def test_presets_and_full_passes_count_evaluations_so_eval_repeats_scales_them() -> None:
    sizes: dict[str, Any] = {"num_components": 2, "train_size": 10, "valset_size": 6}
    budgets: list[dict[str, Any]] = [{"auto": "light"}, {"max_full_evals": 3}]
    for budget in budgets:
        given: dict[str, Any] = {"max_metric_calls": None, "auto": None, "max_full_evals": None}
        given.update(budget)
        once = budget_limit(**given, **sizes)
        assert budget_limit(**given, **sizes, eval_repeats=3) == 3 * once
    exact: dict[str, Any] = {"max_metric_calls": 50, "auto": None, "max_full_evals": None}
    assert budget_limit(**exact, **sizes, eval_repeats=3) == 50
