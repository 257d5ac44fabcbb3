"""Budget presets: `auto="light"|"medium"|"heavy"` and `max_full_evals`, as in DSPy's GEPA."""

from __future__ import annotations

import math

from gepakit.errors import ConfigError

AUTO_RUNS = {"light": 6, "medium": 12, "heavy": 18}


def auto_budget(
    level: str,
    *,
    num_components: int,
    valset_size: int,
    minibatch_size: int = 35,
    full_eval_steps: int = 5,
) -> int:
    """Metric calls for an `auto` level, with the formula DSPy's GEPA uses.

    N = int(max(2 * (2P) * log2(n), 1.5 * n)) trials for n = 6/12/18 and P
    components; budget = V + 5n + 35N + (floor((N + 1) / 5) + 1 + [N < 5]) * V.
    """
    if level not in AUTO_RUNS:
        raise ConfigError(f"auto must be one of {sorted(AUTO_RUNS)}, got {level!r}")
    n = AUTO_RUNS[level]
    trials = int(max(2 * (num_components * 2) * math.log2(n), 1.5 * n))
    total = valset_size + 5 * n + minibatch_size * trials
    full_evals = (trials + 1) // full_eval_steps + 1 + (1 if trials < full_eval_steps else 0)
    return total + full_evals * valset_size


def resolve_budget(
    *,
    max_metric_calls: int | None,
    auto: str | None,
    max_full_evals: int | None,
    num_components: int,
    train_size: int,
    valset_size: int,
) -> int:
    """The metric-call limit from exactly one of the three budget options.

    Raises:
        ConfigError: none or several options given, a non-positive number, or fewer
            metric calls than the seed's evaluation on the valset needs.
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
    if auto is not None:
        # Without a valset (valset_size 0) the trainset is scored in full evaluations,
        # so it sizes the budget, as in DSPy; max_full_evals below counts no valset.
        size = valset_size or train_size
        return auto_budget(auto, num_components=num_components, valset_size=size)
    value = max_metric_calls if max_metric_calls is not None else max_full_evals
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{given[0]} must be a positive integer, got {value!r}")
    if max_full_evals is not None:
        return max_full_evals * (train_size + valset_size)
    needed = valset_size or train_size  # the seed's evaluation on the valset comes first
    if value < needed:
        raise ConfigError(
            f"max_metric_calls={value} cannot evaluate the seed on the {needed} val examples; "
            f"raise it to at least {needed}"
        )
    return value
