"""The parts of the API's responses the CLI reads. Unknown fields are ignored, so the
server may add fields freely; `--json` prints the server's own body instead."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class JobStatus(StrEnum):
    pending = "pending"
    validating = "validating"
    training = "training"
    evaluating = "evaluating"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CamelLenient(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class Progress(Lenient):
    provider_status: str | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_accuracy: float | None = None
    estimated_finish: datetime | None = None


class ScoreRange(Lenient):
    """A score with its 95% interval and the method behind it (`pedagogy`, `safety`,
    `overall`)."""

    n: int = 0
    clusters: int | None = None
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = "none"


class GateResult(Lenient):
    """One threshold or limit decided by its gate, with the number it was decided on."""

    score: str
    gate: str
    kind: str = "minimum"
    threshold: float
    value: float | None = None
    n: int = 0
    mean: float | None = None
    method: str | None = None
    passed: bool


class EvaluationBrief(Lenient):
    id: str
    status: str
    pedagogy_score: float | None = None
    safety_score: float | None = None
    overall_score: float | None = None
    passed: bool | None = None
    pedagogy: ScoreRange | None = None
    safety: ScoreRange | None = None
    overall: ScoreRange | None = None


class PromotionBrief(Lenient):
    id: str
    promoted: bool
    promotion_reason: str | None = None
    registry_model_id: str | None = None
    registry_version_id: str | None = None
    registry_binding_id: str | None = None


class Job(CamelLenient):
    id: str
    name: str
    description: str | None = None
    status: str
    stage: str = "accepted"
    provider: str
    base_model: str
    dataset_uri: str
    tenant_id: str | None = None
    provider_job_id: str | None = None
    provider_model_id: str | None = None
    training_tokens: int | None = None
    training_cost: float | None = None
    training_duration: int | None = None
    error_message: str | None = None
    error_code: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    workflow_id: str | None = None
    temporal_url: str | None = None
    progress: Progress = Field(default_factory=Progress)
    evaluation: EvaluationBrief | None = None
    promotion: PromotionBrief | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobList(Lenient):
    jobs: list[Job]
    total: int
    offset: int
    limit: int


class SuiteScore(Lenient):
    suite: str
    category: str | None = None
    n: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    contaminated: int = 0
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    interval_method: str | None = None
    clusters: int | None = None


class PairedDelta(Lenient):
    suite: str
    n: int = 0
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    method: str | None = None


class SuiteJudgeStatus(Lenient):
    suite: str
    status: str  # calibrated | uncalibrated | unknown
    agreement: float | None = None


class JudgeRecord(Lenient):
    model: str
    prompt_version: str
    agreement_floor: float | None = None
    suites: list[SuiteJudgeStatus] = Field(default_factory=list)


class EvaluationResults(Lenient):
    suites: list[SuiteScore] = Field(default_factory=list)
    baseline_suites: list[SuiteScore] = Field(default_factory=list)
    deltas: list[PairedDelta] = Field(default_factory=list)
    failed_thresholds: list[str] = Field(default_factory=list)
    judge: JudgeRecord | None = None
    gates: list[GateResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # Category deltas against the baseline (paired intervals), when there was one.
    pedagogy_delta: ScoreRange | None = None
    safety_delta: ScoreRange | None = None


class Evaluation(Lenient):
    id: str
    job_id: str
    status: str
    pedagogy_score: float | None = None
    safety_score: float | None = None
    overall_score: float | None = None
    passed: bool | None = None
    thresholds: dict[str, Any] = Field(default_factory=dict)
    results: EvaluationResults = Field(default_factory=EvaluationResults)
    error_message: str | None = None
    model: str | None = None
    baseline_model: str | None = None
    pedagogy: ScoreRange | None = None
    safety: ScoreRange | None = None
    overall: ScoreRange | None = None


class Promotion(Lenient):
    id: str
    job_id: str
    promoted: bool
    promotion_reason: str | None = None
    registry_model_id: str | None = None
    registry_version_id: str | None = None
    registry_binding_id: str | None = None
    error_message: str | None = None
