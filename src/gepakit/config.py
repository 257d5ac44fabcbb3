"""A run described by a TOML file: `load_config(path)` then `run_from_config(config)`.

Used by ``gepakit run config.toml``. Paths in the file (datasets, run_dir, report) are
relative to the file's directory, and ``module:function`` references are imported with
that directory on ``sys.path``, so a config can sit next to its data and its code.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gepakit.errors import ConfigError, MissingExtraError
from gepakit.options import OPTIONS, REQUIRED, AutoBudgetName, check_option
from gepakit.result import Result

__all__ = ["FIELDS", "ProgramConfig", "RunConfig", "load_config", "load_jsonl", "run_from_config"]

TOP_LEVEL_OPTIONS = (
    "max_metric_calls",
    "auto",
    "max_full_evals",
    "workers",
    "max_concurrent_proposals",
    "seed",
    "run_dir",
    "api_base",
)
"""Options of `gepakit.optimize` set at the top level of a config, not in [options]."""

_OWN_KEYS = {"seed_candidate", "evaluator", "reflection_lm", *TOP_LEVEL_OPTIONS}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (str, int, float)) else repr(value)


def option_help(name: str) -> str:
    """One help line for an option in a TOML config, from `gepakit.options.OPTIONS`."""
    option = OPTIONS[name]
    kind = option.toml_kind
    default = option.default
    shown = "" if default is None or default is REQUIRED else f", default {_toml_value(default)}"
    return f"{kind}{shown}. {option.doc}"


TOML_OPTIONS = tuple(n for n, o in OPTIONS.items() if o.toml and n not in _OWN_KEYS)
"""The keys of the [options] table: every option a TOML value can express."""

FIELDS: dict[str, str] = {
    "seed_candidate": "table, required. Component name -> starting text, e.g. "
    '{ system_prompt = "Classify the intent." }.',
    "train": "path, required. Training examples: a JSONL file (one JSON object a line; "
    'an "id" key, if present, names the example), or .json (a list), .csv or .tsv.',
    "val": "path. Validation examples (same formats); default: the trainset (with a warning).",
    "evaluator": 'string "module:function". Your evaluator fn(candidate, example) -> float | '
    "Score. Give this or [program].",
    "program": "table. The built-in PromptProgram evaluator: task_lm (model string, "
    "required), component, user_template, answer_field, metric (exact_match, contains, "
    'regex, json_field or "module:function"), parser (regex), labels, max_tokens, '
    "temperature.",
    "reflection_lm": 'string. Model that rewrites the text: "local", "local/<name>", '
    '"openai/gpt-4o-mini", "<provider>/<model>". Give this or reflection_function.',
    "reflection_function": 'string "module:function". A fn(prompt: str) -> str used as '
    "the reflection LM (for tests and custom clients).",
    "reflection_params": "table. Sampling params of reflection_lm, e.g. "
    "{ max_tokens = 400, temperature = 0.0 }.",
    **{name: option_help(name) for name in TOP_LEVEL_OPTIONS},
    "report": "path. Write the HTML report there; default run_dir/report.html when run_dir "
    "is set. Set to false to skip.",
    "options": "table. Any other keyword of gepakit.optimize, e.g. "
    "{ reflection_minibatch_size = 3, use_merge = true, use_mlflow = true }. Its keys:\n"
    + "\n".join(f"    {name}: {option_help(name)}" for name in TOML_OPTIONS),
}
"""Every top-level key of a run config, with its help text (shown by `gepakit run --help`)."""

PROGRAM_FIELDS = (
    "task_lm",
    "component",
    "user_template",
    "answer_field",
    "metric",
    "parser",
    "labels",
    "max_tokens",
    "temperature",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramConfig:
    """The `[program]` table: a `gepakit.programs.PromptProgram` evaluator."""

    task_lm: str
    component: str = "system_prompt"
    user_template: str = "{text}"
    answer_field: str = "label"
    metric: str = "exact_match"
    parser: str | None = None
    labels: tuple[str, ...] | None = None
    max_tokens: int = 64
    temperature: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """A validated run config; paths are absolute."""

    source: Path
    seed_candidate: Mapping[str, str]
    train: Path
    val: Path | None = None
    evaluator: str | None = None
    program: ProgramConfig | None = None
    reflection_lm: str | None = None
    reflection_function: str | None = None
    reflection_params: Mapping[str, Any] = field(default_factory=dict)
    max_metric_calls: int | None = None
    auto: AutoBudgetName | None = None
    max_full_evals: int | None = None
    workers: int = 1
    max_concurrent_proposals: int = 1
    seed: int = 0
    run_dir: Path | None = None
    api_base: str | None = None
    report: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _error(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: field {key!r}: {message}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # pyright: ignore[reportMissingImports]
        except ModuleNotFoundError as error:
            raise MissingExtraError("tomli", "toml") from error
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _typed(path: Path, raw: Mapping[str, Any], key: str, kinds: tuple[type, ...]) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    is_bool = isinstance(value, bool) and bool not in kinds  # TOML true is not an integer
    if is_bool or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise _error(path, key, f"must be {names}, got {type(value).__name__} {value!r}")
    return value


def _path(path: Path, raw: Mapping[str, Any], key: str, *, must_exist: bool) -> Path | None:
    value = _typed(path, raw, key, (str,))
    if value is None:
        return None
    if not value.strip() or "\x00" in value:
        raise _error(path, key, f"must be a non-empty path, got {value!r}")
    resolved = (path.parent / value).resolve()
    if must_exist and not resolved.is_file():
        raise _error(path, key, f"file {resolved} does not exist")
    return resolved


def _reference(path: Path, raw: Mapping[str, Any], key: str) -> str | None:
    value = _typed(path, raw, key, (str,))
    if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
        raise _error(path, key, f'must look like "package.module:function", got {value!r}')
    return value


def _seed(path: Path, raw: Mapping[str, Any]) -> dict[str, str]:
    seed = _typed(path, raw, "seed_candidate", (dict,))
    if not seed:
        raise _error(path, "seed_candidate", 'is required: a table like { system_prompt = "..." }')
    bad = [k for k, v in seed.items() if not isinstance(v, str)]
    if bad:
        raise _error(path, "seed_candidate", f"texts must be strings; {bad[0]!r} is not")
    return dict(seed)


def _program(path: Path, raw: Mapping[str, Any]) -> ProgramConfig | None:
    table = _typed(path, raw, "program", (dict,))
    if table is None:
        return None
    unknown = sorted(set(table) - set(PROGRAM_FIELDS))
    if unknown:
        raise _error(
            path, "program", f"unknown key {unknown[0]!r}; known: {', '.join(PROGRAM_FIELDS)}"
        )
    if not isinstance(table.get("task_lm"), str):
        raise _error(path, "program.task_lm", "is required: a model string such as 'local'")
    labels = table.get("labels")
    if labels is not None and not (
        isinstance(labels, list) and all(isinstance(x, str) for x in labels)
    ):
        raise _error(path, "program.labels", "must be a list of strings")
    values = {k: v for k, v in table.items() if k != "labels"}
    try:
        return ProgramConfig(**values, labels=tuple(labels) if labels else None)
    except TypeError as error:
        raise _error(path, "program", str(error)) from None


def _exactly_one(path: Path, raw: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    given = [k for k in keys if raw.get(k) is not None]
    if len(given) != 1:
        shown = " or ".join(keys)
        what = "none" if not given else " and ".join(given)
        raise _error(
            path, given[1] if len(given) > 1 else keys[0], f"give one of {shown} (got {what})"
        )


def _checked(path: Path, key: str, name: str, value: Any) -> Any:
    """`value` validated as the option `name` (see `gepakit.options`)."""
    try:
        return check_option(name, value, label="value")
    except ConfigError as error:
        option = OPTIONS[name]  # say what a valid value is in TOML's words (true, not True)
        message = str(error).removeprefix("value ")
        message = message.replace(f"must be {option.kind}", f"must be {option.toml_kind}")
        raise _error(path, key, message) from None


def _top_level(path: Path, raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    return OPTIONS[name].default if value is None else _checked(path, name, name, value)


def _options(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    options = _typed(path, raw, "options", (dict,)) or {}
    for key, value in options.items():
        if key not in TOML_OPTIONS:
            clash = " (set it at the top level)" if key in _OWN_KEYS else ""
            raise _error(path, f"options.{key}", f"is not an optimize() option{clash}")
        _checked(path, f"options.{key}", key, value)
    return dict(options)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config file.

    Raises:
        ConfigError: the file is missing or not TOML, or a field is unknown, missing or
            invalid; the message names the file and the field.
    """
    source = Path(path).resolve()
    raw = _read_toml(source)
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise _error(source, unknown[0], f"unknown field; known fields: {', '.join(FIELDS)}")
    _exactly_one(source, raw, ("evaluator", "program"))
    _exactly_one(source, raw, ("reflection_lm", "reflection_function"))
    _exactly_one(source, raw, ("max_metric_calls", "auto", "max_full_evals"))
    if raw.get("train") is None:
        raise _error(source, "train", "is required: the path of a JSONL file")
    report_raw = raw.get("report")
    run_dir = _path(source, raw, "run_dir", must_exist=False)
    if report_raw is False:
        report = None
    else:
        report = _path(source, raw, "report", must_exist=False)
        if report is None and run_dir is not None:
            report = run_dir / "report.html"
    return RunConfig(
        source=source,
        seed_candidate=_seed(source, raw),
        train=_path(source, raw, "train", must_exist=True) or source,
        val=_path(source, raw, "val", must_exist=True),
        evaluator=_reference(source, raw, "evaluator"),
        program=_program(source, raw),
        reflection_lm=_typed(source, raw, "reflection_lm", (str,)),
        reflection_function=_reference(source, raw, "reflection_function"),
        reflection_params=_typed(source, raw, "reflection_params", (dict,)) or {},
        max_metric_calls=_top_level(source, raw, "max_metric_calls"),
        auto=_top_level(source, raw, "auto"),
        max_full_evals=_top_level(source, raw, "max_full_evals"),
        workers=_top_level(source, raw, "workers"),
        max_concurrent_proposals=_top_level(source, raw, "max_concurrent_proposals"),
        seed=_top_level(source, raw, "seed"),
        run_dir=run_dir,
        api_base=_top_level(source, raw, "api_base"),
        report=report,
        options=_options(source, raw),
    )


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one a line (blank lines skipped).

    Raises:
        ConfigError: a line is not a JSON object; the message names file and line.
    """
    from gepakit.datasets import _jsonl  # one JSONL parser for the API and the CLI

    rows = _jsonl(path, path.read_text(encoding="utf-8-sig"))
    if not rows:
        raise ConfigError(f"{path}: no examples")
    return rows


def _load_data(path: Path) -> list[dict[str, Any]]:
    """Examples from a .jsonl file, or a .json/.csv/.tsv file (`gepakit.load_examples`)."""
    from gepakit.datasets import load_examples

    return load_jsonl(path) if path.suffix.lower() == ".jsonl" else load_examples(path)


def import_reference(reference: str, base: Path, key: str, source: Path) -> Callable[..., Any]:
    """Import ``module:function`` with `base` on ``sys.path``.

    Raises:
        ConfigError: the module or function cannot be found or is not callable.
    """
    module_name, _, name = reference.partition(":")
    added = str(base) not in sys.path
    if added:
        sys.path.insert(0, str(base))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _error(source, key, f"cannot import module {module_name!r}: {error}") from None
    finally:
        if added:
            sys.path.remove(str(base))
    target = getattr(module, name, None)
    if not callable(target):
        raise _error(source, key, f"{module_name!r} has no callable {name!r}")
    return target


def _evaluator(config: RunConfig) -> Callable[..., Any]:
    base = config.source.parent
    if config.evaluator is not None:
        return import_reference(config.evaluator, base, "evaluator", config.source)
    if config.program is None:
        raise _error(config.source, "evaluator", "give evaluator or [program]")
    from gepakit.programs import PromptProgram

    values = {f.name: getattr(config.program, f.name) for f in dataclasses.fields(config.program)}
    metric = values.pop("metric")
    if ":" in metric:
        metric = import_reference(metric, base, "program.metric", config.source)
    return PromptProgram(metric=metric, api_base=config.api_base, **values)


def run_from_config(config: RunConfig, *, progress: bool | None = None) -> Result:
    """Run the optimization a config describes; write result.json and the report.

    Args:
        config: from `load_config`.
        progress: as in `gepakit.optimize`.

    Returns:
        The `Result`.
    """
    from gepakit.api import optimize

    reflection: Any
    if config.reflection_function is not None:
        reflection = import_reference(
            config.reflection_function, config.source.parent, "reflection_function", config.source
        )
    else:
        reflection = config.reflection_lm
        if config.reflection_params:
            from gepakit.lm import resolve_lm

            base = {"api_base": config.api_base} if config.api_base else {}
            params = {**base, **config.reflection_params}
            reflection = resolve_lm(reflection, role="reflection", **params)
    result = optimize(
        dict(config.seed_candidate),
        _load_data(config.train),
        _load_data(config.val) if config.val is not None else None,
        evaluator=_evaluator(config),
        reflection_lm=reflection,
        max_metric_calls=config.max_metric_calls,
        auto=config.auto,
        max_full_evals=config.max_full_evals,
        workers=config.workers,
        max_concurrent_proposals=config.max_concurrent_proposals,
        seed=config.seed,
        run_dir=config.run_dir,
        api_base=config.api_base,
        progress=progress,
        run_metadata={"cli_config": {"path": str(config.source)}},
        **config.options,
    )
    if config.run_dir is not None:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        result.to_json(config.run_dir / "result.json")
    if config.report is not None:
        from gepakit.report import write_report

        write_report(result, config.report)
    return result
