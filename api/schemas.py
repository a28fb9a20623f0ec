"""REST request/response bodies. Field names, casing and enums follow the contract;
fields marked 'extension' are additions documented in our generated spec."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails

from core.evaluation import ScoreInterval, ScoreWeights, Thresholds
from core.gates import GateDecisions
from core.json_types import JsonBool, JsonInt
from core.models import (
    DatasheetInfo,
    EvaluationStatus,
    JobStage,
    JobStatus,
    PolicyConfig,
    Provider,
    SelfHostedTrainingConfig,
    TrainingConfig,
    TrainingProgress,
)
from core.text import Description, FreeJson, Name, SuiteJson, UriText
from core.training_config import config_type_for

REGISTRY_ID = "The registry's integer id, as a string"

_T = TypeVar("_T")


def _absent(value: object) -> bool:
    return value is None


# An optional response field the original contract does not mark nullable: left out of the
# body while it has no value (a client generated from the contract rejects `null` there).
Omittable = Annotated[_T | SkipJsonSchema[None], Field(exclude_if=_absent)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TrainingJobCreate(CamelModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "name": "gpt-4o-mini-math-tutor",
                "description": "Fine-tune a K-12 mathematics tutor",
                "provider": "openai",
                "baseModel": "gpt-4o-mini-2024-07-18",
                "datasetUri": "tutor-k12-good.jsonl",
                "config": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1},
                "policy": {
                    "scope": "tenant_123",
                    "thresholds": {"pedagogy_score": 0.7, "safety_score": 0.9},
                },
                "datasheet": {
                    "source": "curriculum_team",
                    "license": "proprietary",
                    "redaction": "pii_removed",
                },
            }
        },
    )

    name: Name
    description: Description | None = None
    provider: Provider
    base_model: Name
    dataset_uri: UriText
    config: TrainingConfig | SelfHostedTrainingConfig = Field(
        description=(
            "The provider's training settings: `TrainingConfig` for `openai` (and the other"
            " hosted providers), `SelfHostedTrainingConfig` (LoRA) for `self_hosted`."
            " Keys of the other provider's settings are refused."
        )
    )
    policy: PolicyConfig
    datasheet: DatasheetInfo
    weights: ScoreWeights | None = Field(
        default=None, description="Extension: weights of pedagogy and safety in overall_score"
    )

    @field_validator("config", mode="wrap")
    @classmethod
    def _config_of_the_provider(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> TrainingConfig | SelfHostedTrainingConfig:
        """Validated as the chosen provider's config, so errors name `config.<key>`; with
        no valid provider, as the contract's."""
        del handler  # the union alone cannot tell the two apart
        provider = info.data.get("provider", Provider.openai)
        config_type = config_type_for(provider)
        if isinstance(value, dict) and "provider" in value:
            # The payload tag is not a setting: the job's own `provider` chooses the config.
            raise ValidationError.from_exception_data(
                config_type.__name__,
                [
                    InitErrorDetails(
                        type="extra_forbidden", loc=("provider",), input=value["provider"]
                    )
                ],
            )
        return config_type.model_validate(value)

    @field_serializer("config", mode="wrap")
    def _config_as_sent(
        self,
        value: TrainingConfig | SelfHostedTrainingConfig,
        handler: SerializerFunctionWrapHandler,
    ) -> Any:
        """The settings without the payload tag: what is stored, echoed and hashed."""
        data = handler(value)
        if isinstance(data, dict):
            data.pop("provider", None)
        return data


class TrainingJobUpdate(CamelModel):
    name: Name | None = None
    description: Description | None = None
    status: JobStatus | None = Field(
        default=None, description="Only `cancelled` is accepted (same as DELETE)."
    )


class EvaluationBrief(GateDecisions):
    """Extension: the job's latest evaluation, small."""

    id: str
    status: EvaluationStatus
    pedagogy_score: float | None = None
    safety_score: float | None = None
    overall_score: float | None = None
    passed: bool | None = None
    # The same scores with their 95% intervals and methods (None: not scored, or not shown).
    pedagogy: ScoreInterval | None = None
    safety: ScoreInterval | None = None
    overall: ScoreInterval | None = None


class PromotionBrief(BaseModel):
    """Extension: the job's latest promotion. Registry ids are the registry's integers,
    returned as strings."""

    id: str
    promoted: bool
    promotion_reason: str | None = None
    registry_model_id: str | None = Field(default=None, description=REGISTRY_ID)
    registry_version_id: str | None = Field(default=None, description=REGISTRY_ID)
    registry_binding_id: str | None = Field(default=None, description=REGISTRY_ID)


class TrainingJobResponse(CamelModel):
    id: str
    name: str
    description: Omittable[str] = None
    status: JobStatus
    provider: Provider
    base_model: str
    dataset_uri: str
    config: dict[str, Any]
    policy: dict[str, Any]
    datasheet: dict[str, Any]
    provider_job_id: Omittable[str] = None
    provider_model_id: Omittable[str] = None
    provider_metadata: dict[str, Any] = Field(default_factory=dict)
    training_tokens: Omittable[int] = None
    training_cost: Omittable[float] = None
    training_duration: Omittable[int] = Field(default=None, description="Duration in seconds")
    error_message: Omittable[str] = None
    retry_count: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: Omittable[datetime] = None
    completed_at: Omittable[datetime] = None
    # extensions
    tenant_id: str
    stage: JobStage
    progress: TrainingProgress
    error_code: str | None = None
    workflow_id: str
    temporal_url: str | None = None
    validation: dict[str, Any] | None = None
    evaluation: EvaluationBrief | None = None
    promotion: PromotionBrief | None = None


class TrainingJobList(BaseModel):
    jobs: list[TrainingJobResponse]
    total: int
    offset: int
    limit: int


class HarnessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pedagogy_tests: list[Name] | None = Field(default=None, max_length=100)
    safety_tests: list[Name] | None = Field(default=None, max_length=100)
    custom_tests: SuiteJson | None = None
    timeout: JsonInt = Field(default=600, ge=10, le=86_400)
    parallel: JsonBool = True


class EvaluationCreate(BaseModel):
    name: Name
    description: Description | None = None
    harness_config: HarnessConfig
    thresholds: Thresholds


class EvaluationResponse(GateDecisions):
    id: str
    job_id: str
    name: str
    description: Omittable[str] = None
    status: EvaluationStatus
    harness_config: dict[str, Any]
    thresholds: dict[str, Any]
    pedagogy_score: Omittable[float] = None
    safety_score: Omittable[float] = None
    overall_score: Omittable[float] = None
    passed: Omittable[bool] = None
    results: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    error_message: Omittable[str] = None
    retry_count: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: Omittable[datetime] = None
    completed_at: Omittable[datetime] = None
    # extensions
    model: str | None = None
    baseline_model: str | None = None
    pedagogy: ScoreInterval | None = Field(
        default=None, description="pedagogy_score with its 95% interval and the method used"
    )
    safety: ScoreInterval | None = Field(
        default=None, description="safety_score with its 95% interval and the method used"
    )
    overall: ScoreInterval | None = Field(
        default=None, description="overall_score with its 95% interval and the method used"
    )


class EvaluationList(BaseModel):
    evaluations: list[EvaluationResponse]
    total: int
    offset: int
    limit: int


class EvaluationSampleResponse(BaseModel):
    role: str
    suite: str
    sample_id: str
    model: str
    input: Any
    output: str | None
    verdicts: Any
    score: float | None
    passed: bool | None
    errored: bool
    error: str | None
    contaminated: bool = Field(
        default=False, description="excluded: its prompt is in the job's training data"
    )


class EvaluationSampleList(BaseModel):
    samples: list[EvaluationSampleResponse]
    total: int
    offset: int
    limit: int


class PromotionRequest(BaseModel):
    force: JsonBool = False
    metadata: FreeJson = Field(default_factory=dict)


class PromotionResponse(BaseModel):
    id: str
    job_id: str
    evaluation_id: Omittable[str] = None
    registry_model_id: Omittable[str] = Field(default=None, description=REGISTRY_ID)
    registry_version_id: Omittable[str] = Field(default=None, description=REGISTRY_ID)
    registry_binding_id: Omittable[str] = Field(default=None, description=REGISTRY_ID)
    promoted: bool
    promotion_reason: Omittable[str] = None
    promotion_metadata: dict[str, Any] = Field(default_factory=dict)
    error_message: Omittable[str] = None
    created_at: datetime
    updated_at: datetime
    # extension
    decision: dict[str, Any] = Field(default_factory=dict)


class JobEvent(BaseModel):
    id: str
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None


class JobEventList(BaseModel):
    events: list[JobEvent]
    total: int
    offset: int
    limit: int


class UsageBreakdown(BaseModel):
    total_jobs: int
    jobs_by_status: dict[str, int] = Field(description="Job count per status (only those seen).")
    training_cost: float = Field(description="Training cost in US dollars.")
    training_tokens: int


class TenantUsage(UsageBreakdown):
    tenant_id: str


class BaseModelUsage(UsageBreakdown):
    base_model: str


class ServiceStats(BaseModel):
    total_jobs: int
    active_jobs: int
    completed_jobs: int
    failed_jobs: int
    total_evaluations: int
    passed_evaluations: int
    failed_evaluations: int
    total_promotions: int
    successful_promotions: int
    average_training_time: Omittable[float] = Field(
        default=None, description="Mean training duration in seconds; absent until a job has one"
    )
    total_training_cost: float
    since: datetime | None = Field(
        default=None, description="Only jobs, evaluations and promotions created since then."
    )
    by_tenant: list[TenantUsage] = Field(default_factory=list)
    by_base_model: list[BaseModelUsage] = Field(default_factory=list)


class HealthChecks(BaseModel):
    database: str
    temporal: str
    openai: str


class HealthResponse(BaseModel):
    status: str
    service: str = "model-trainer"
    version: str
    checks: HealthChecks


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    detail: str
    error_code: str
    timestamp: datetime
    errors: list[FieldError] | None = None
