"""DSPy programs as gepakit candidates: seed texts, building a program per candidate, examples."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from gepakit.errors import ConfigError
from gepakit.types import content_hash


def predictor_names(program: dspy.Module) -> list[str]:
    """Names of the program's predictors, the components GEPA optimizes.

    Raises:
        ConfigError: the program has no predictor, or has `dspy.Flex` code components.
    """
    try:
        from dspy.teleprompt.gepa.gepa_flex_utils import enumerate_flex_submodules
    except ImportError:  # older DSPy without dspy.Flex
        flex = {}
    else:
        flex = enumerate_flex_submodules(program)
    if flex:
        raise ConfigError(
            f"the program has dspy.Flex submodules ({', '.join(sorted(flex))}); optimizing "
            "their code is not supported by gepakit.dspy.GEPA yet. Use dspy.GEPA for them"
        )
    names = [name for name, _ in program.named_predictors()]
    if not names:
        raise ConfigError("the program has no predictors (dspy.Predict) to optimize")
    return names


def instructions(predictor: Any) -> str:
    """The instructions of a predictor's signature."""
    return str(predictor.signature.instructions)


def seed_candidate(program: dspy.Module) -> dict[str, str]:
    """Component name -> current instructions of each named predictor."""
    return {name: instructions(pred) for name, pred in program.named_predictors()}


def _set_instructions(predictor: Any, text: str) -> None:
    predictor.signature = predictor.signature.with_instructions(text)


def build_program(student: dspy.Module, candidate: Mapping[str, str]) -> dspy.Module:
    """A deep copy of `student` with the instructions of `candidate` (demos untouched)."""
    program = student.deepcopy()
    for name, pred in program.named_predictors():
        if name in candidate:
            _set_instructions(pred, candidate[name])
    return program


class ProgramCache:
    """Built programs per candidate, least recently used dropped first. Thread-safe.

    Building deep-copies the student, so rollouts of one candidate share one program;
    DSPy modules may be called from several threads at once.
    """

    def __init__(self, student: dspy.Module, size: int = 32) -> None:
        self.student = student
        self.size = size
        self._lock = threading.Lock()
        self._programs: OrderedDict[tuple[tuple[str, str], ...], dspy.Module] = OrderedDict()

    def get(self, candidate: Mapping[str, str]) -> dspy.Module:
        key = tuple(sorted(candidate.items()))
        with self._lock:
            program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
                return program
        program = build_program(self.student, candidate)
        with self._lock:
            self._programs[key] = program
            while len(self._programs) > self.size:
                self._programs.popitem(last=False)
        return program


class ExampleRecord:
    """A `dspy.Example` with the stable id and position gepakit tracks it by.

    `repr` and `to_dict` show the example's fields, so the record reads well in
    reflection prompts and stores.
    """

    __slots__ = ("example", "id", "index")

    def __init__(self, example: Any, id: str, index: int) -> None:
        self.example = example
        self.id = id
        self.index = index

    def to_dict(self) -> dict[str, Any]:
        return dict(_fields(self.example))

    def __repr__(self) -> str:
        return repr(self.to_dict())


def _fields(example: Any) -> Mapping[str, Any]:
    to_dict = getattr(example, "toDict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, Mapping):
            return data
    if isinstance(example, Mapping):
        return example
    raise ConfigError(
        f"expected dspy.Example items, got {type(example).__name__}; "
        "build them with dspy.Example(...).with_inputs(...)"
    )


def example_records(data: Sequence[Any] | None, name: str) -> list[ExampleRecord]:
    """Wrap DSPy examples with ids: their `id` field, else a hash of their fields.

    Repeated examples get ``~2``, ``~3`` ... suffixes, so duplicates are allowed as in DSPy.

    Raises:
        ConfigError: `data` is not a non-empty list of examples.
    """
    if data is None or isinstance(data, (str, bytes, Mapping)) or not len(data):
        raise ConfigError(f"{name} must be a non-empty list of dspy.Example")
    seen: Counter[str] = Counter()
    records = []
    for index, example in enumerate(data):
        fields = _fields(example)
        try:
            example.inputs()
        except Exception as exc:
            raise ConfigError(
                f"{name}[{index}] has no input fields ({exc}); mark them with "
                "dspy.Example(...).with_inputs('question', ...)"
            ) from exc
        given = fields.get("id")
        base = str(given) if isinstance(given, (str, int)) else content_hash(dict(fields))
        seen[base] += 1
        ex_id = base if seen[base] == 1 else f"{base}~{seen[base]}"
        records.append(ExampleRecord(example, ex_id, index))
    return records
