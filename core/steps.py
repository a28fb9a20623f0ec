"""Inputs and results of the workflow steps (activities): what each step needs, and summaries."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, JsonValue

from core.evaluation import ScoreWeights, SuiteCategory, SuiteScore, Thresholds
from core.gates import ScoreGates
from core.models import (
    AnyTrainingConfig,
    JobStage,
    JobStatus,
    Provider,
    TrainingConfig,
    TrainingProgress,
)
from core.provider_status import ProviderJobStatus, recorded_status

# The normalized status, also read from results recorded with a provider's raw one.
StepStatus = Annotated[ProviderJobStatus, BeforeValidator(recorded_status)]


class JobRef(BaseModel):
    job_id: str


class ValidateInput(BaseModel):
    """What the validate step checks: the job's dataset, datasheet, config and base model."""

    job_id: str
    tenant_id: str
    provider: Provider
    base_model: str
    dataset_uri: str
    config: AnyTrainingConfig = Field(default_factory=TrainingConfig)
    datasheet: dict[str, Any] | None = None
    restrictions: dict[str, Any] = Field(default_factory=dict)


class ValidationSummary(BaseModel):
    examples: int
    format: str
    warning_count: int = 0
    base_model_shutdown_date: str | None = None
    estimated_cost_usd: float | None = None
    training_tokens_estimate: int | None = None
    provider_file_id: str  # the validated bytes, uploaded: what launch trains on


class LaunchInput(BaseModel):
    job_id: str
    tenant_id: str
    provider: Provider
    base_model: str
    config: AnyTrainingConfig = Field(default_factory=TrainingConfig)
    training_file: str


class GpuTrainingPlan(BaseModel):
    """Where and how long the training activity runs: from the launch step, which reads
    the deployment's settings (a workflow cannot)."""

    task_queue: str
    heartbeat_timeout_seconds: float
    timeout_seconds: float


class LaunchResult(BaseModel):
    provider_job_id: str
    provider_status: StepStatus
    reused_existing: bool = False
    # Set when this service trains the model itself: the GPU task queue's training step
    # takes the place of polling the provider.
    gpu_training: GpuTrainingPlan | None = None


class WaitInput(BaseModel):
    job_id: str
    tenant_id: str
    provider: Provider
    base_model: str
    provider_job_id: str
    report_after_seconds: float = 60.0


class WaitResult(BaseModel):
    done: bool
    provider_status: StepStatus
    progress: TrainingProgress = Field(default_factory=TrainingProgress)
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class CancelProviderInput(BaseModel):
    """The provider job to cancel; without its id it is looked up by our job id."""

    job_id: str
    provider: Provider
    provider_job_id: str | None = None


class CancelProviderResult(BaseModel):
    provider_job_id: str | None = None
    provider_status: StepStatus | None = None


class SuiteRef(BaseModel):
    name: str
    category: SuiteCategory


class StartEvaluationInput(BaseModel):
    evaluation_id: str
    job_id: str
    tenant_id: str
    workflow_id: str
    name: str = "auto-evaluation"
    description: str | None = None
    harness_config: dict[str, Any] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    gates: ScoreGates = Field(default_factory=ScoreGates)
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    # The job's fine-tuned model, its base model (the baseline when the tenant has no
    # champion) and its name (whose champion it is).
    model: str
    base_model: str
    job_name: str
    # How long a silent (dead) worker may hold an evaluation step before it is retried.
    heartbeat_seconds: float = 120


class EvaluationPlan(BaseModel):
    model: str
    baseline_model: str | None
    suites: list[SuiteRef]
    concurrency: int
    timeout_seconds: float
    parallel: bool = True
    # Few enough model calls to grade in one activity rather than one per suite.
    small: bool = False


class GradeSmallInput(BaseModel):
    """A small evaluation, graded in one activity: what it is, and its plan."""

    start: StartEvaluationInput
    plan: EvaluationPlan


class SuiteTask(BaseModel):
    evaluation_id: str
    suite: SuiteRef
    model: str
    role: str  # candidate | baseline
    concurrency: int
    timeout_seconds: float


class FinishEvaluationInput(BaseModel):
    evaluation_id: str
    suites: list[SuiteScore]
    baseline_suites: list[SuiteScore] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    gates: ScoreGates = Field(default_factory=ScoreGates)
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    error_message: str | None = None


class PromoteInput(BaseModel):
    """A promotion and the job facts it registers: who owns the model, under which name,
    from which provider, and the job's promotion policy (the champion gate's settings)."""

    promotion_id: str
    job_id: str
    evaluation_id: str | None
    tenant_id: str
    job_name: str
    job_description: str | None = None
    provider: Provider
    # None: the job produced no fine-tuned model (the promotion is refused).
    fine_tuned_model: str | None
    # The job's `policy.promotion`, as submitted.
    promotion_policy: JsonValue = None
    # The job failed after training (at its promotion, say): promoting it completes it.
    completes_failed_job: bool = False
    force: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)


class PromotionOutcome(BaseModel):
    promotion_id: str
    promoted: bool
    reason: str
    registry_model_id: str | None = None
    registry_version_id: str | None = None
    registry_binding_id: str | None = None


class FinishJobInput(BaseModel):
    job_id: str
    status: JobStatus
    error_message: str | None = None
    error_code: str | None = None


class JobStatusInput(BaseModel):
    """A status and stage the workflow has moved the job to (never its end)."""

    job_id: str
    status: JobStatus
    stage: JobStage


class InspectDatasetInput(BaseModel):
    """A dataset check without a job (`POST /trainer/datasets/validate`)."""

    dataset_uri: str
    tenant_id: str
    base_model: str
    provider: str = "openai"
    datasheet: dict[str, Any] | None = None
    method: str = "supervised"
    n_epochs: int | None = 3
    restrictions: dict[str, Any] = Field(default_factory=dict)


class DatasetInspection(BaseModel):
    ok: bool
    report: dict[str, Any]


class ForceFinishInput(BaseModel):
    """The least a job's end needs: its terminal status and an error code."""

    job_id: str
    status: JobStatus
    error_code: str


class RecordFailureInput(BaseModel):
    """An evaluation or promotion row to close as failed (by id)."""

    record_id: str
    message: str
