"""The budget rule, in one place: `auto="light"|"medium"|"heavy"`, `max_full_evals` and
`max_metric_calls` (exactly one), with DSPy's GEPA formula for the presets.

Every front door (`gepakit.optimize`, the TOML config, `gepakit.dspy.GEPA`,
`gepakit.gepa.optimize`) checks and computes budgets with these functions.
"""

from __future__ import annotations

import math

from gepakit.errors import ConfigError

AUTO_RUNS = {"light": 6, "medium": 12, "heavy": 18}
"""Candidates each `auto` level plans for."""


def candidates_budget(
    num_components: int,
    num_candidates: int,
    valset_size: int,
    minibatch_size: int = 35,
    full_eval_steps: int = 5,
) -> int:
    """Metric calls to find `num_candidates` candidates, with the formula DSPy's GEPA uses.

    N = int(max(2 * (2P) * log2(n), 1.5 * n)) trials for n candidates and P components;
    budget = V + 5n + 35N + (floor((N + 1) / 5) + 1 + [N < 5]) * V (the last term
    only when N > 0).

    Raises:
        ConfigError: a negative size, or `full_eval_steps` < 1 (a ValueError, as in DSPy).
    """
    trials = int(max(2 * (num_components * 2) * math.log2(num_candidates), 1.5 * num_candidates))
    if trials < 0 or valset_size < 0 or minibatch_size < 0:
        raise ConfigError("num_trials, valset_size, and minibatch_size must be >= 0.")
    if full_eval_steps < 1:
        raise ConfigError("full_eval_steps must be >= 1.")
    total = valset_size + 5 * num_candidates + minibatch_size * trials
    if trials == 0:
        return total
    full_evals = (trials + 1) // full_eval_steps + 1 + (1 if trials < full_eval_steps else 0)
    return total + full_evals * valset_size


def auto_budget(
    level: str,
    *,
    num_components: int,
    valset_size: int,
    minibatch_size: int = 35,
    full_eval_steps: int = 5,
) -> int:
    """Metric calls for an `auto` level (6, 12 or 18 candidates; see `candidates_budget`).

    Raises:
        ConfigError: an unknown level.
    """
    if level not in AUTO_RUNS:
        raise ConfigError(f"auto must be one of {sorted(AUTO_RUNS)}, got {level!r}")
    return candidates_budget(
        num_components, AUTO_RUNS[level], valset_size, minibatch_size, full_eval_steps
    )


def check_budget(*, max_metric_calls: object, auto: object, max_full_evals: object) -> None:
    """The budget rule: exactly one of the three options, and a valid value for it.

    Raises:
        ConfigError: none or several options given, an unknown `auto` level, or a
            number that is not a positive integer.
    """
    given = [
        name
        for name, v in (
            ("max_metric_calls", max_metric_calls),
            ("auto", auto),
            ("max_full_evals", max_full_evals),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one budget option: max_metric_calls=N, auto='light'|'medium'|'heavy'"
            f" or max_full_evals=N (got {', '.join(given) or 'none'})"
        )
    if auto is not None and (not isinstance(auto, str) or auto not in AUTO_RUNS):
        raise ConfigError(f"auto must be one of {sorted(AUTO_RUNS)}, got {auto!r}")
    value = max_metric_calls if max_metric_calls is not None else max_full_evals
    if auto is None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ConfigError(f"{given[0]} must be a positive integer, got {value!r}")


def budget_limit(
    *,
    max_metric_calls: int | None,
    auto: str | None,
    max_full_evals: int | None,
    num_components: int,
    train_size: int,
    valset_size: int,
    eval_repeats: int = 1,
) -> int:
    """The metric-call limit of a budget that passed `check_budget`.

    `valset_size` is 0 when no valset is given: the trainset is then scored in full
    evaluations, so it sizes an `auto` budget (as in DSPy), and `max_full_evals`
    counts the trainset only once. `auto` and `max_full_evals` count evaluations, so
    with `eval_repeats` draws per evaluation they allow that many times the calls;
    `max_metric_calls` is a number of calls.
    """
    if auto is not None:
        size = valset_size or train_size
        calls = auto_budget(auto, num_components=max(num_components, 1), valset_size=size)
        return eval_repeats * calls
    if max_full_evals is not None:
        return eval_repeats * max_full_evals * (train_size + valset_size)
    assert max_metric_calls is not None  # check_budget: exactly one is set
    return max_metric_calls


def resolve_budget(
    *, max_metric_calls: int | None, auto: str | None, max_full_evals: int | None, **sizes: int
) -> int:
    """`check_budget`, then `budget_limit`, and the limit must cover the seed's evaluation.

    Args:
        max_metric_calls, auto, max_full_evals: the budget options (exactly one).
        sizes: `budget_limit`'s num_components, train_size, valset_size (0 without a
            valset) and eval_repeats.

    Raises:
        ConfigError: as `check_budget`, or fewer metric calls than the seed's evaluation
            on the valset (the trainset without one) needs.
    """
    check_budget(max_metric_calls=max_metric_calls, auto=auto, max_full_evals=max_full_evals)
    limit = budget_limit(
        max_metric_calls=max_metric_calls, auto=auto, max_full_evals=max_full_evals, **sizes
    )
    needed = sizes["valset_size"] or sizes["train_size"]  # the seed's val evaluation comes first
    if max_metric_calls is not None and limit < needed:
        raise ConfigError(
            f"max_metric_calls={limit} cannot evaluate the seed on the {needed} val examples; "
            f"raise it to at least {needed}"
        )
    return limit
