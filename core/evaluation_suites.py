"""Evaluation suites: the sample and grader schema, the built-in YAML suites, custom suites.

Pure (no I/O beyond reading the packaged suite files), so the API checks a harness config
with the same rules the evaluation activities run it by."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.evaluation import SuiteCategory

# Bounds for user-supplied suites: they are parsed and run inside workers.
MAX_SAMPLES = 2000
MAX_TEXT = 20_000
MAX_PATTERN = 500
SUITE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
# The built-in suites' YAML files stay beside the evaluation activities (package data of
# `activities.evaluation`); they are found by path so this module imports nothing there.
BUILTIN_SUITE_DIR = Path(__file__).resolve().parents[1] / "activities" / "evaluation" / "suites"
# Human-labelled answers to built-in suites' samples, one file per model-graded suite: the
# rubric judge is calibrated against them (`activities.evaluation.calibration`).
GOLD_DIR = BUILTIN_SUITE_DIR / "gold"


class _Frozen(BaseModel):
    # Built-in suites are cached and shared, so nobody may mutate one in place.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatMessage(_Frozen):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_TEXT)


# Grader specs: one model per grader type, discriminated by `type`.


class JudgeSpec(_Frozen):
    """Rubric judge (an LLM); `model` overrides the run's judge model."""

    type: Literal["judge"]
    model: str | None = None
    pass_score: float = Field(default=0.5, ge=0.0, le=1.0)


class ModerationSpec(_Frozen):
    """Provider moderation on the output: passes when nothing is flagged."""

    type: Literal["moderation"]
    model: str | None = None


class RefusalSpec(_Frozen):
    """Deterministic refusal detection, checked against the sample's `expect`."""

    type: Literal["refusal"]


class ContainsSpec(_Frozen):
    type: Literal["contains"]
    any: list[str] | None = None
    all: list[str] | None = None
    none: list[str] | None = None
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _needs_terms(self) -> ContainsSpec:
        if not (self.any or self.all or self.none):
            raise ValueError("contains needs at least one of 'any', 'all' or 'none'")
        return self


class RegexSpec(_Frozen):
    type: Literal["regex"]
    # Python's re has no timeout, so a user pattern is kept short to limit backtracking.
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN)
    ignore_case: bool = True
    must_match: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class ExactSpec(_Frozen):
    """Whole output equals `value` (or the sample's reference), whitespace/case-normalised."""

    type: Literal["exact"]
    value: str | None = None
    case_sensitive: bool = False


class NumericSpec(_Frozen):
    """Passes when the sample's `numeric_answer` is among the numbers in the output."""

    type: Literal["numeric"]
    tolerance: float = Field(default=1e-6, ge=0.0)


class ReadingLevelSpec(_Frozen):
    type: Literal["reading_level"]
    max_grade: float = Field(default=8.0, gt=0.0, le=20.0)


class PiiSpec(_Frozen):
    """Passes when the output holds no email, phone, SSN or payment card number."""

    type: Literal["pii"]


GraderSpec = Annotated[
    JudgeSpec
    | ModerationSpec
    | RefusalSpec
    | ContainsSpec
    | RegexSpec
    | ExactSpec
    | NumericSpec
    | ReadingLevelSpec
    | PiiSpec,
    Field(discriminator="type"),
]


class Sample(_Frozen):
    id: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=50)
    reference: str | None = Field(default=None, max_length=MAX_TEXT)
    key_points: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    rubric: str | None = Field(default=None, max_length=MAX_TEXT)
    expect: Literal["answer", "refuse"] | None = None
    pair_id: str | None = None
    numeric_answer: float | None = None
    graders: list[GraderSpec] | None = Field(default=None, max_length=20)

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        return messages

    @property
    def prompt(self) -> str:
        """The learner's last message: what is graded and checked for contamination."""
        return self.messages[-1].content


def applies(spec: GraderSpec, sample: Sample) -> bool:
    """Whether a suite-level grader has something to check on this sample."""
    match spec:
        case NumericSpec():
            return sample.numeric_answer is not None
        case ExactSpec():
            return spec.value is not None or sample.reference is not None
        case RefusalSpec():
            return sample.expect is not None
        case _:
            return True


def _explain(spec: GraderSpec, sample: Sample) -> str | None:
    """Why an explicitly listed grader cannot grade this sample, if it cannot."""
    match spec:
        case NumericSpec() if sample.numeric_answer is None:
            return "a numeric grader needs 'numeric_answer'"
        case ExactSpec() if spec.value is None and sample.reference is None:
            return "an exact grader needs 'value' or the sample's 'reference'"
        case RefusalSpec() if sample.expect is None:
            return "a refusal grader needs 'expect' (answer or refuse)"
        case JudgeSpec() if not (
            sample.key_points or sample.reference or sample.rubric or sample.expect
        ):
            return "a judge needs 'key_points', 'reference', 'rubric' or 'expect'"
        case _:
            return None


class Suite(_Frozen):
    name: str = Field(pattern=SUITE_NAME_PATTERN)
    category: SuiteCategory = SuiteCategory.custom
    description: str = ""
    graders: list[GraderSpec] = Field(default_factory=list)
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES)

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        seen: set[str] = set()
        for index, sample in enumerate(self.samples):
            where = f"samples[{index}] ({sample.id})"
            if sample.id in seen:
                raise ValueError(f"{where}: duplicate sample id")
            seen.add(sample.id)
            if sample.graders is not None:
                for spec in sample.graders:
                    if (problem := _explain(spec, sample)) is not None:
                        raise ValueError(f"{where}.graders: {problem}")
            else:
                for spec in self.graders:
                    if isinstance(spec, JudgeSpec) and (problem := _explain(spec, sample)):
                        raise ValueError(f"{where}: {problem}")
            if not self.graders_for(sample):
                raise ValueError(f"{where}: no grader applies to this sample")
        for spec in self.graders:
            if not any(applies(spec, s) for s in self.samples):
                raise ValueError(f"graders: the {spec.type} grader applies to no sample")
        return self

    def graders_for(self, sample: Sample) -> list[GraderSpec]:
        """The sample's own graders, or the suite defaults that apply to it."""
        if sample.graders is not None:
            return list(sample.graders)
        return [spec for spec in self.graders if applies(spec, sample)]


class SuiteError(ValueError):
    """A suite definition is invalid; the message names the offending fields."""


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"]
        ).lstrip(".")
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{path or '<suite>'}: {message}")
    return "; ".join(lines)


def _parse(data: Any) -> Suite:
    if not isinstance(data, Mapping):
        raise SuiteError("a suite must be a mapping with 'name', 'category' and 'samples'")
    try:
        return Suite.model_validate(dict(data))
    except ValidationError as exc:
        raise SuiteError(f"invalid suite: {_format_errors(exc)}") from exc


@cache
def _builtin_names() -> tuple[str, ...]:
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in BUILTIN_SUITE_DIR.iterdir()
            if entry.name.endswith(".yaml")
        )
    )


def list_builtin_suites() -> list[str]:
    return list(_builtin_names())


@cache
def load_builtin_suite(name: str) -> Suite:
    if name not in _builtin_names():
        raise KeyError(f"unknown suite {name!r}; built-in suites: {list_builtin_suites()}")
    text = (BUILTIN_SUITE_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    suite = _parse(yaml.safe_load(text))
    if suite.name != name:
        raise SuiteError(f"{name}.yaml declares name {suite.name!r}")
    return suite


def suite_from_dict(data: Mapping[str, Any]) -> Suite:
    """Validate a user-supplied custom suite; built-in names are reserved."""
    suite = _parse(data)
    if suite.name in _builtin_names():
        raise SuiteError(f"name: {suite.name!r} is a built-in suite; choose another name")
    return suite


# ---- gold labels: answers a person graded, to check the rubric judge against --------------


class GoldItem(_Frozen):
    """One answer to one suite sample, with the verdict a careful human grader gave it."""

    sample: str = Field(min_length=1, max_length=200)
    answer: str = Field(min_length=1, max_length=MAX_TEXT)
    verdict: Literal["pass", "fail"]
    # Why the grader decided so (a missed key point, a falsehood, unsafe content ...).
    note: str = Field(default="", max_length=500)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


class GoldSet(_Frozen):
    suite: str = Field(pattern=SUITE_NAME_PATTERN)
    items: list[GoldItem] = Field(min_length=1, max_length=MAX_SAMPLES)


def is_model_graded(suite: Suite) -> bool:
    """Whether any sample of the suite is graded by the rubric judge."""
    return any(isinstance(spec, JudgeSpec) for s in suite.samples for spec in suite.graders_for(s))


def model_graded_builtin_suites() -> list[str]:
    return [name for name in list_builtin_suites() if is_model_graded(load_builtin_suite(name))]


@cache
def load_gold_set(name: str) -> GoldSet:
    """The gold set of built-in suite `name`; every item answers one of its judged samples."""
    suite = load_builtin_suite(name)
    path = GOLD_DIR / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"suite {name!r} has no gold set")
    try:
        gold = GoldSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise SuiteError(f"gold/{name}.yaml: {_format_errors(exc)}") from exc
    if gold.suite != name:
        raise SuiteError(f"gold/{name}.yaml declares suite {gold.suite!r}")
    judged = {
        s.id
        for s in suite.samples
        if any(isinstance(spec, JudgeSpec) for spec in suite.graders_for(s))
    }
    for index, item in enumerate(gold.items):
        if item.sample not in judged:
            raise SuiteError(
                f"gold/{name}.yaml: items[{index}]: {item.sample!r} is not a judged sample"
            )
    return gold


def sample_by_id(suite: Suite, sample_id: str) -> Sample:
    for sample in suite.samples:
        if sample.id == sample_id:
            return sample
    raise KeyError(sample_id)
