"""Evaluation payload types (no I/O).

These travel inside Temporal workflow payloads, so they hold aggregate numbers only;
per-sample outputs and verdicts are stored elsewhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from core.gates import GateCheck
from core.json_types import JsonFloat
from core.judge_calibration import JudgeRecord

if TYPE_CHECKING:
    from core.settings import Settings


class SuiteCategory(StrEnum):
    pedagogy = "pedagogy"
    safety = "safety"
    custom = "custom"


# Two-sided confidence level of every reported interval.
INTERVAL_LEVEL = 0.95


class IntervalMethod(StrEnum):
    """How an interval was computed, so a report says what it rests on."""

    wilson = "wilson"  # pass/fail samples: Wilson score interval
    wilson_bounded = "wilson_bounded"  # graded scores with no spread: Wilson on the mean
    bootstrap = "bootstrap"  # graded scores: percentile bootstrap of the mean
    cluster_bootstrap = "cluster_bootstrap"  # samples sharing a prompt or group resampled together
    stratified_bootstrap = "stratified_bootstrap"  # overall: each category resampled on its own
    combined_bounds = "combined_bounds"  # overall: weighted category bounds (no spread to resample)
    paired_bootstrap = "paired_bootstrap"  # delta: bootstrap over paired samples
    paired_cluster_bootstrap = "paired_cluster_bootstrap"
    paired_discordant_bound = "paired_discordant_bound"  # delta of all-zero differences
    paired_bounded = "paired_bounded"  # delta of identical non-zero differences
    none = "none"  # nothing scored: no interval


class ScoreInterval(BaseModel):
    """A mean with its interval and the method behind it.

    `n` counts the scored samples (or pairs) and `clusters` the independent units the
    interval treats them as (equal to `n` unless samples share a prompt or group). `low`
    and `high` are None only when nothing was scored.
    """

    model_config = ConfigDict(frozen=True)

    n: int = Field(default=0, ge=0)
    clusters: int = Field(default=0, ge=0)
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    method: IntervalMethod = IntervalMethod.none
    level: float = INTERVAL_LEVEL

    @property
    def width(self) -> float | None:
        return None if self.low is None or self.high is None else self.high - self.low


class SuiteScore(BaseModel):
    """One suite run against one model.

    `n` counts every sample in the suite: passed + failed + errored + contaminated == n.
    `mean` and the interval cover the scored (passed + failed) samples only.
    """

    model_config = ConfigDict(frozen=True)

    suite: str
    category: SuiteCategory
    model: str
    n: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    errored: int = Field(ge=0)
    contaminated: int = Field(default=0, ge=0)
    mean: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    # Defaults let payloads recorded before intervals had methods still decode.
    interval_method: IntervalMethod = IntervalMethod.none
    clusters: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _counts_add_up(self) -> SuiteScore:
        if self.passed + self.failed + self.errored + self.contaminated != self.n:
            raise ValueError("passed + failed + errored + contaminated must equal n")
        return self

    @property
    def scored(self) -> int:
        return self.passed + self.failed

    @property
    def attempted(self) -> int:
        """Samples actually sent to the model (contaminated ones never are)."""
        return self.n - self.contaminated

    @property
    def error_rate(self) -> float:
        return self.errored / self.attempted if self.attempted else 0.0

    @property
    def interval(self) -> ScoreInterval:
        return ScoreInterval(
            n=self.scored,
            clusters=self.scored if self.clusters is None else self.clusters,
            mean=self.mean,
            low=self.ci_low,
            high=self.ci_high,
            method=self.interval_method,
        )


class Thresholds(BaseModel):
    """Minimum scores; a threshold left as None is not applied."""

    pedagogy_score: JsonFloat | None = Field(default=None, ge=0.0, le=1.0)
    safety_score: JsonFloat | None = Field(default=None, ge=0.0, le=1.0)
    overall_score: JsonFloat | None = Field(default=None, ge=0.0, le=1.0)


class ScoreWeights(BaseModel):
    pedagogy: JsonFloat = Field(default=0.5, ge=0.0)
    safety: JsonFloat = Field(default=0.5, ge=0.0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ScoreWeights:
        if self.pedagogy + self.safety <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class PairedDelta(BaseModel):
    """Candidate minus baseline on the samples both scored (paired by sample id)."""

    model_config = ConfigDict(frozen=True)

    suite: str
    n: int = Field(ge=0)
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    method: IntervalMethod = IntervalMethod.none
    clusters: int | None = Field(default=None, ge=0)

    @property
    def interval(self) -> ScoreInterval:
        return ScoreInterval(
            n=self.n,
            clusters=self.n if self.clusters is None else self.clusters,
            mean=self.mean,
            low=self.ci_low,
            high=self.ci_high,
            method=self.method,
        )


class EvaluationSummary(BaseModel):
    status: Literal["passed", "failed", "error"]
    passed: bool
    pedagogy_score: float | None
    safety_score: float | None
    overall_score: float | None
    # The same scores with their intervals (None where the score is None, and in
    # summaries recorded before intervals were reported).
    pedagogy: ScoreInterval | None = None
    safety: ScoreInterval | None = None
    overall: ScoreInterval | None = None
    # Candidate minus baseline per category, over the category's paired samples.
    pedagogy_delta: ScoreInterval | None = None
    safety_delta: ScoreInterval | None = None
    suites: list[SuiteScore]
    baseline_suites: list[SuiteScore] = Field(default_factory=list)
    deltas: list[PairedDelta] = Field(default_factory=list)
    thresholds: Thresholds
    failed_thresholds: list[str]
    error_message: str | None = None
    # Every threshold and limit applied, with its gate and the numbers it was decided on.
    gates: list[GateCheck] = Field(default_factory=list)
    # The rubric judge (model, prompt version) and each model-graded suite's calibration.
    judge: JudgeRecord | None = None
    # What a reader should know before trusting the scores, one line each: suites with
    # fewer scored samples than their threshold needs (activities/evaluation/power.py).
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _status_matches_passed(self) -> EvaluationSummary:
        if self.passed != (self.status == "passed"):
            raise ValueError("passed must be true exactly when status is 'passed'")
        return self


# ---- where the judge and moderation run -------------------------------------------------

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
InferenceProvider = Literal["openai", "self_hosted"]


class EvaluationEndpointSettings(BaseModel):
    """Where the rubric judge and moderation run: OpenAI (inference outlives its
    fine-tuning cutoff) or a self-hosted OpenAI-compatible server. Read from the
    deployment's settings of the same names with an `eval_` prefix (`eval_judge_provider`,
    ...); by default everything stays on OpenAI."""

    judge_provider: InferenceProvider = "openai"
    # A self-hosted judge's OpenAI-compatible base URL (None: the inference server's).
    judge_base_url: str | None = None
    judge_api_key: SecretStr | None = None
    judge_model: str = "gpt-4o-mini-2024-07-18"
    moderation_provider: InferenceProvider = "openai"
    # A self-hosted server with OpenAI's moderation API (vLLM has none of its own).
    moderation_base_url: str | None = None
    moderation_api_key: SecretStr | None = None
    moderation_model: str = DEFAULT_MODERATION_MODEL

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            judge_provider=settings.eval_judge_provider,
            judge_base_url=settings.eval_judge_base_url,
            judge_api_key=settings.eval_judge_api_key,
            judge_model=settings.eval_judge_model,
            moderation_provider=settings.eval_moderation_provider,
            moderation_base_url=settings.eval_moderation_base_url,
            moderation_api_key=settings.eval_moderation_api_key,
            moderation_model=settings.eval_moderation_model,
        )
