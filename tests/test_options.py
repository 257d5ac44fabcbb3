"""`gepakit.options`: the one table of options, and up-front validation of every option."""

from __future__ import annotations

import inspect
import math
import string
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gepakit.api
from gepakit import ConfigError, optimize
from gepakit.engine.profiles.compact import COMPACT_TEMPLATE, EXTEND_TEMPLATE
from gepakit.engine.prompts import DEFAULT_TEMPLATE
from gepakit.engine.reflection import ReflectionRequest, ReflectiveProposer
from gepakit.engine.state import SearchConfig
from gepakit.errors import StoreError
from gepakit.options import (
    ACCEPTANCES,
    CANDIDATE_SELECTORS,
    COMPONENT_SELECTORS,
    OPTIONS,
    REQUIRED,
    TEMPLATE_PLACEHOLDERS,
    AcceptanceName,
    CandidateSelectorName,
    ComponentSelectorName,
    check_option,
    check_options,
    markdown_table,
    optimize_kwargs,
    resolve_seed,
    strategy_name,
    validated,
)
from gepakit.store.spec import COMPARED_SEARCH_KEYS, describe, run_spec
from gepakit.testing import ScriptedLM, ToyTask
from gepakit.types import Candidate


class CountingEvaluator:
    """A fake evaluator that counts its calls (scores 0.5)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, candidate: dict[str, str], example: Any) -> float:
        self.calls += 1
        return 0.5


DATA = [{"id": f"e{i}", "x": i} for i in range(4)]


def call(evaluator: Any, lm: Any, /, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "seed_candidate": {"p": "Solve it."},
        "trainset": DATA,
        "valset": DATA,
        "evaluator": evaluator,
        "reflection_lm": lm,
        "max_metric_calls": 20,
    }
    args.update(overrides)
    return optimize(**args)


# -- the table and the signature agree -------------------------------------------------


def test_optimize_signature_and_option_table_agree() -> None:
    params = inspect.signature(optimize).parameters
    assert list(params) == list(OPTIONS), "add a row to gepakit.options.OPTIONS per keyword"
    for name, param in params.items():
        expected = OPTIONS[name].default
        if expected is REQUIRED:
            assert param.default is inspect.Parameter.empty, name
        else:
            assert param.default == expected, name
        # every default passes its own check
        if expected is not REQUIRED:
            check_option(name, expected)


def test_every_option_has_a_group_a_doc_and_a_kind() -> None:
    for option in OPTIONS.values():
        assert option.doc.strip() and option.kind.strip(), option.name
        assert option.doc.endswith("."), option.name


@pytest.mark.parametrize(
    ("literal", "table"),
    [
        (CandidateSelectorName, CANDIDATE_SELECTORS),
        (ComponentSelectorName, COMPONENT_SELECTORS),
        (AcceptanceName, ACCEPTANCES),
    ],
)
def test_strategy_literals_match_their_factory_tables(literal: Any, table: dict[str, Any]) -> None:
    assert set(get_args(literal)) == set(table)


def test_spec_names_built_in_strategies_by_their_first_table_name() -> None:
    assert strategy_name(ACCEPTANCES["strict_improvement"]()) == "improvement"
    for table in (CANDIDATE_SELECTORS, COMPONENT_SELECTORS):
        for name, factory in table.items():
            assert strategy_name(factory()) == name
            assert describe(factory()) in (
                name,
                {"name": name, "epsilon": 0.1},
                {"name": name, "k": 5},
            )
    assert strategy_name(object()) is None


def test_gepas_strategy_names_are_aliases_of_gepakits() -> None:
    from gepakit.integrations.gepa.strategies import _NATIVE  # pyright: ignore[reportPrivateUsage]
    from gepakit.options import BATCH_SAMPLERS, GEPA_NAMES, VAL_POLICIES, gepakit_name

    samplers = dict.fromkeys(BATCH_SAMPLERS)
    for gepa_name, own in GEPA_NAMES.items():
        (table,) = [t for t in (ACCEPTANCES, VAL_POLICIES, samplers) if gepa_name in t]
        assert own in table and table[gepa_name] is table[own], gepa_name
        assert gepakit_name(gepa_name) == own
    assert gepakit_name("pareto") == "pareto" and gepakit_name(None) is None
    # gepa's built-in selector classes map onto names of gepakit's selector tables.
    assert set(_NATIVE.values()) <= {*CANDIDATE_SELECTORS, *COMPONENT_SELECTORS}


# -- bad values are refused before any call, naming the option --------------------------

BAD_VALUES: list[tuple[str, Any]] = [
    ("use_merge", "no"),
    ("workers", 0),
    ("workers", True),
    ("workers", 2.0),
    ("timeout", math.nan),
    ("timeout", math.inf),
    ("failure_score", math.nan),
    ("run_dir", ""),
    ("run_dir", "  "),
    ("cache", ""),
    ("reflection_minibatch_size", 1.5),
    ("reflection_minibatch_size", None),
    ("perfect_score", "1"),
    ("max_merge_invocations", None),
    ("merge_subsample_size", "5"),
    ("score_threshold", "x"),
    ("stop_callback", 42),
    ("reflection_prompt_template", 42),
    ("reflection_prompt_template", "Improve {current_text} using {unknown}"),
    ("reflection_prompt_template", "Improve {current_text"),
    ("reflection_prompt_template", {"p": "{nope}"}),
    ("seed", "abc"),
    ("seed", 1.5),
    ("seed", True),
    ("candidate_selection_strategy", "paretoo"),
    ("component_selector", 3),
    ("acceptance", "always"),
    ("executor", 7),
    ("callbacks", "sink"),
    ("callbacks", [42]),
    ("store", "memory"),
    ("progress", "yes"),
    ("evaluator_id", ""),
    ("wandb_init_kwargs", [("a", 1)]),
    ("run_metadata", "x"),
    ("max_concurrent_proposals", -1),
    ("stop_after_no_improvement", 0.5),
    ("auto", "lite"),
    ("max_full_evals", True),
    ("evaluator", lambda candidate: 0.0),
    ("stop_callback", lambda: True),
    ("instruction_proposer", lambda candidate: {}),
    ("candidate_selection_strategy", lambda candidates: 0),
    ("component_selector", lambda: ["p"]),
    ("reflection_lm", lambda: "reply"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v in BAD_VALUES])
def test_a_bad_value_is_refused_before_any_call_naming_the_option(name: str, value: Any) -> None:
    evaluator, lm = CountingEvaluator(), ScriptedLM(lambda prompt: "never")
    with pytest.raises(ConfigError, match=name):
        call(evaluator, lm, **{name: value})
    assert evaluator.calls == 0
    assert lm.calls == 0


def test_a_callable_with_the_wrong_arguments_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(ConfigError, match=r"callable as fn\(candidate, example\); its signature"):
        check_option("evaluator", lambda candidate: 0.0)
    for fine in (lambda c, e: 0.0, lambda *args: 0.0, lambda c, e, trace=None: 0.0, print):
        check_option("evaluator", fine)


def test_a_misspelt_strategy_name_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'pareto'"):
        check_option("candidate_selection_strategy", "paretoo")


def test_a_template_naming_a_component_the_seed_lacks_is_refused() -> None:
    evaluator = CountingEvaluator()
    with pytest.raises(ConfigError, match="reflection_prompt_template names 'q'"):
        call(evaluator, ScriptedLM(lambda p: "x"), reflection_prompt_template={"q": "{examples}"})
    assert evaluator.calls == 0


def test_a_bad_model_string_names_reflection_lm() -> None:
    with pytest.raises(ConfigError, match="reflection_lm: unknown local model"):
        call(CountingEvaluator(), "local/nope")


# -- the placeholders are the ones the proposer fills ----------------------------------


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def test_built_in_templates_use_only_known_placeholders() -> None:
    assert _fields(DEFAULT_TEMPLATE) <= TEMPLATE_PLACEHOLDERS
    assert _fields(EXTEND_TEMPLATE) <= TEMPLATE_PLACEHOLDERS
    assert _fields(COMPACT_TEMPLATE) <= TEMPLATE_PLACEHOLDERS
    check_option("reflection_prompt_template", DEFAULT_TEMPLATE)


def test_the_proposer_fills_every_known_placeholder() -> None:
    template = " ".join("{" + p + "}" for p in sorted(TEMPLATE_PLACEHOLDERS))
    proposer = ReflectiveProposer(lambda prompt: prompt, templates=template)
    request = ReflectionRequest(
        candidate={"p": "old text"},
        components=("p",),
        reflective_dataset={"p": []},
        rejected={},
    )
    prompt = proposer.build_prompt(request, "p")
    assert "old text" in prompt and "{" not in prompt


# -- seed ------------------------------------------------------------------------------


def test_seed_none_draws_a_seed_and_records_it() -> None:
    task = ToyTask()
    results = [
        optimize(
            task.seed_candidate,
            task.trainset,
            task.valset,
            evaluator=task.score,
            reflection_lm=task.reflect,
            max_metric_calls=30,
            seed=None,
        )
        for _ in range(2)
    ]
    assert all(isinstance(r.seed, int) for r in results)
    assert results[0].seed != results[1].seed  # one chance in 2**31 of a false failure


def test_a_run_started_with_seed_none_resumes_with_its_stored_seed(tmp_path: Path) -> None:
    task = ToyTask()
    args: dict[str, Any] = {
        "evaluator": task.score, "reflection_lm": task.reflect, "seed": None,
        "run_dir": tmp_path / "run",
    }  # fmt: skip
    first = optimize(task.seed_candidate, task.trainset, task.valset, max_metric_calls=20, **args)
    again = optimize(task.seed_candidate, task.trainset, task.valset, max_metric_calls=40, **args)
    assert again.seed == first.seed
    assert again.total_metric_calls > first.total_metric_calls


def test_resolve_seed_reads_the_stored_run_for_none(tmp_path: Path) -> None:
    assert resolve_seed(5, tmp_path) == 5
    assert isinstance(resolve_seed(None, tmp_path / "nothing"), int)
    task = ToyTask()
    first = optimize(
        task.seed_candidate, task.trainset, task.valset, evaluator=task.score,
        reflection_lm=task.reflect, max_metric_calls=20, seed=None, run_dir=tmp_path / "r",
    )  # fmt: skip
    assert resolve_seed(None, tmp_path / "r") == first.seed


# -- other front doors -----------------------------------------------------------------


def test_optimize_kwargs_renames_and_names_the_callers_spelling() -> None:
    out = optimize_kwargs(
        {"num_threads": 4, "use_merge": False}, renames={"num_threads": "workers"}
    )
    assert out == {"workers": 4, "use_merge": False}
    with pytest.raises(ConfigError, match="num_threads must be a positive integer"):
        optimize_kwargs({"num_threads": 0}, renames={"num_threads": "workers"})
    with pytest.raises(ConfigError, match=r"^workers must be a positive integer"):
        optimize_kwargs({"workers": 0}, renames={"num_threads": "workers"})  # gepakit's name
    with pytest.raises(TypeError, match="did you mean 'use_merge'"):
        optimize_kwargs({"use_merg": True}, caller="GEPA")


def test_values_a_front_door_validated_are_passed_over_but_not_others() -> None:
    # A front door hands on the objects it validated; anything else is checked again.
    given = [0]  # stands for a validated object (no check could pass this one)
    with validated({"workers": given}):
        check_options({"workers": given})
        with pytest.raises(ConfigError, match="workers must be a positive integer"):
            check_options({"workers": [0]})
        with pytest.raises(ConfigError, match="max_concurrent_proposals"):
            check_options({"max_concurrent_proposals": given})
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        check_options({"workers": given})


# -- fuzz: any value of any option either is accepted or refused cleanly ------------------


class _Reached(BaseException):
    """Raised instead of running the engine: validation and wiring passed."""


class _NoDriver:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _Reached


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(["", " ", "{x}", "{current_text}", "pareto", "all", "light", "thread"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
    st.just(b"bytes"),
    st.just(lambda *a: 0),
)
# Valid values that would start heavy machinery (a Ray cluster, an MLflow or W&B run).
_HEAVY = (("executor", "ray"), ("use_mlflow", True), ("use_wandb", True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(OPTIONS)), value=JUNK)
def test_fuzz_every_option_is_validated_before_any_call(
    name: str, value: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if any(name == n and value == v and type(value) is type(v) for n, v in _HEAVY):
        value = OPTIONS[name].default
    evaluator, lm = CountingEvaluator(), ScriptedLM(lambda prompt: "never")
    overrides = {name: value}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gepakit.api, "Driver", _NoDriver)
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        try:
            call(evaluator, lm, **overrides)
        except _Reached:
            pass  # a valid value: everything up to the engine was set up
        except (ConfigError, TypeError) as error:
            assert name in str(error) or _names_input(name, str(error)), (name, value, error)
        except StoreError as error:  # a path that cannot be created or opened, named
            assert name in ("run_dir", "cache") and str(value) in str(error), (name, value)
        except Warning:
            pass  # e.g. a budget with no room for a proposal (filterwarnings=error)
    assert evaluator.calls == 0
    assert lm.calls == 0


def _names_input(name: str, message: str) -> bool:
    """Errors about the data name the dataset or the budget it cannot fit."""
    return name in ("trainset", "valset", "seed_candidate") and (
        "budget" in message or "example" in message
    )


def test_the_markdown_reference_lists_every_option_once() -> None:
    table = markdown_table().splitlines()
    assert len(table) == 2 + len(OPTIONS)
    for name, option in OPTIONS.items():
        (row,) = [r for r in table if r.startswith(f"| `{name}` |")]
        assert f"| {option.group} |" in row
    assert "| required |" in next(r for r in table if "`evaluator`" in r)


class _UncalledAdapter:
    """A fake gepa adapter that fails the test if the run gets as far as calling it."""

    def evaluate(self, batch: Any, candidate: Any, capture_traces: bool = False) -> Any:
        raise AssertionError("evaluate called")

    def make_reflective_dataset(self, candidate: Any, eval_batch: Any, components: Any) -> Any:
        raise AssertionError("make_reflective_dataset called")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("display_progress_bar", "yes"),
        ("use_merge", "no"),
        ("perfect_score", math.nan),
        ("max_merge_invocations", None),
        ("seed", "abc"),
        ("run_dir", ""),
        ("max_metric_calls", 2.5),
        ("cache_evaluation", "yes"),
    ],
)
def test_the_gepa_front_door_validates_shared_options_under_gepa_names(
    name: str, value: Any
) -> None:
    from gepakit.gepa import optimize as gepa_optimize

    args: dict[str, Any] = {
        "seed_candidate": {"p": "x"}, "trainset": DATA, "valset": DATA,
        "adapter": _UncalledAdapter(), "reflection_lm": lambda prompt: "never",
        "max_metric_calls": 20,
    }  # fmt: skip
    with pytest.raises(ConfigError, match=name):
        gepa_optimize(**{**args, name: value})


def _gepa_names() -> list[str]:
    from gepakit.gepa import optimize as gepa_optimize

    return sorted(inspect.signature(gepa_optimize).parameters)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_gepa_names()), value=JUNK)
def test_fuzz_the_gepa_front_door_raises_only_gepakit_errors_before_any_call(
    name: str, value: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from gepakit.gepa import optimize as gepa_optimize

    if name in ("use_mlflow", "use_wandb", "logger") or (name, value) == ("task_lm", "local"):
        return  # valid values would start a tracker run, or a local model
    args: dict[str, Any] = {
        "seed_candidate": {"p": "x"}, "trainset": DATA, "valset": DATA,
        "adapter": _UncalledAdapter(), "reflection_lm": lambda prompt: "never",
        "max_metric_calls": 20,
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gepakit.api, "Driver", _NoDriver)
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        try:
            gepa_optimize(**{**args, name: value})
        except _Reached:
            pass
        except (ConfigError, TypeError, StoreError, Warning):
            pass  # a clear error before any call (the adapter fails the test if called)


# Options of the search and reflection groups that may change when a run is resumed
# (they do not shape which rollouts are replayed). A new search or reflection option is
# either compared on resume (give its row a spec_key and store it in store/spec.py's
# run_spec) or listed here.
MAY_CHANGE_ON_RESUME = {
    "reflection_lm",
    "instruction_proposer",
    "reflection_prompt_template",
    "reflection_style",
    "reflection_lm_kwargs",
    "max_text_chars",
    "api_base",  # where the reflection LM is served may move between sessions
}
# Compared on resume as part of another key's description.
COMPARED_ELSEWHERE = {"top_k": "candidate_selector"}  # {"name": "top_k_pareto", "k": ...}


def test_every_search_option_is_compared_on_resume_or_said_not_to_be() -> None:
    for option in OPTIONS.values():
        if option.group in ("search", "reflection") and option.spec_key is None:
            assert option.name in MAY_CHANGE_ON_RESUME | COMPARED_ELSEWHERE.keys(), (
                f"{option.name}: give its row a spec_key (compared on resume) or add it to "
                "MAY_CHANGE_ON_RESUME"
            )


def test_the_run_spec_stores_every_compared_option() -> None:
    task = ToyTask()
    examples = gepakit.api.make_examples(task.trainset, "trainset")
    spec = run_spec(
        Candidate(components=task.seed_candidate), examples, examples, SearchConfig(),
        failure_score=0.0, evaluator_id="e", max_metric_calls=10,
    )  # fmt: skip
    assert set(spec["search"]) == set(COMPARED_SEARCH_KEYS)
    assert len(COMPARED_SEARCH_KEYS) == len(set(COMPARED_SEARCH_KEYS))
