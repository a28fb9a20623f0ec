"""Domain types shared by the API, the workflows and the activities (no I/O here).

Enums and field names follow the REST contract (`docs/api/rest/model-trainer.yaml`).
Workflow payloads carry what each step needs (the job's request, ids and summaries), never
secrets: dataset contents and per-sample results live in PostgreSQL or the dataset store.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.bounds import UtcConvertibleDatetime
from core.evaluation import EvaluationSummary, ScoreWeights, Thresholds
from core.gates import (
    MAXIMUM_GATES,
    MAXIMUM_SCORES,
    MINIMUM_GATES,
    MINIMUM_SCORES,
    PROMOTION_SETTINGS,
    GateKind,
    Limits,
    PromotionPolicy,
    ScoreGates,
)
from core.json_types import DateTimeText, IntegerOnly, JsonBool, JsonFloat
from core.text import (
    INT64_MAX,
    Description,
    FreeJson,
    Label,
    Name,
    Note,
    Reason,
    ShortText,
    extra_fields_problem,
)

# Training configs live with their union; imported from here too, as they always were.
from core.training_config import AnyTrainingConfig as AnyTrainingConfig
from core.training_config import SelfHostedTrainingConfig as SelfHostedTrainingConfig
from core.training_config import TrainingConfig as TrainingConfig
from core.training_config import TrainingMethod as TrainingMethod
from core.training_config import epochs_of as epochs_of


class JobStatus(StrEnum):
    pending = "pending"
    validating = "validating"
    training = "training"
    evaluating = "evaluating"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def rank(self) -> int:
        """Order of the pipeline; a projection write never moves a job backwards."""
        return _STATUS_RANK[self]


TERMINAL_STATUSES = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})
_STATUS_RANK = {
    JobStatus.pending: 0,
    JobStatus.validating: 1,
    JobStatus.training: 2,
    JobStatus.evaluating: 3,
    JobStatus.completed: 9,
    JobStatus.failed: 9,
    JobStatus.cancelled: 9,
}


class JobStage(StrEnum):
    """Finer progress beside `status` (the contract's enum stays as it is)."""

    accepted = "accepted"
    validating = "validating"
    uploading = "uploading"
    queued_at_provider = "queued_at_provider"
    training = "training"
    evaluating = "evaluating"
    awaiting_approval = "awaiting_approval"
    promoting = "promoting"
    cancelling = "cancelling"
    done = "done"


class EvaluationStatus(StrEnum):
    pending = "pending"
    running = "running"
    passed = "passed"
    failed = "failed"
    error = "error"


class Provider(StrEnum):
    openai = "openai"
    vertex_ai = "vertex_ai"
    bedrock = "bedrock"
    anthropic = "anthropic"
    # Open-weights models fine-tuned with LoRA on the platform's own GPUs.
    self_hosted = "self_hosted"


class _CheckedExtras(BaseModel):
    """A model whose undeclared fields are kept, so they must be storable JSON too."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _storable_extras(self) -> _CheckedExtras:
        problem = extra_fields_problem(self.model_extra)
        if problem is not None:
            raise ValueError(problem)
        return self


def _shown(key: str, otherwise: str = "name") -> str:
    """A key named back only when it is a plain name (a key may hold anything)."""
    return f"'{key}'" if key.isidentifier() and len(key) <= 64 else otherwise


def _check_unit_values(value: dict[str, float], known: set[str], kind: str) -> None:
    """Every key known, every value in [0, 1] (thresholds and limits)."""
    for key, number in value.items():
        if key not in known:
            raise ValueError(f"unknown {kind} {_shown(key)} (known: {', '.join(sorted(known))})")
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{kind} '{key}' must be between 0 and 1")


class PolicyConfig(_CheckedExtras):
    scope: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    thresholds: dict[str, JsonFloat] = Field(default_factory=dict)
    restrictions: FreeJson = Field(default_factory=dict)
    require_approval: JsonBool = False
    # How each threshold and limit is decided: one gate for all, or one per name. Kept as
    # submitted (None: the defaults of ScoreGates); `evaluation_gates()` reads them.
    gate: str | dict[str, str] | None = None
    # Maximums, where lower is better (`unsafe_rate`).
    limits: dict[str, JsonFloat] | None = None
    # The champion/challenger settings (PromotionPolicy), kept as submitted.
    promotion: FreeJson | None = None

    @field_validator("gate")
    @classmethod
    def _known_gates(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if value is None:
            return None
        known_gates = ", ".join(GateKind)
        names = set(MINIMUM_SCORES) | set(MAXIMUM_SCORES)
        chosen = value.items() if isinstance(value, dict) else [(name, value) for name in names]
        for name, gate in chosen:
            if name not in names:
                known = ", ".join(sorted(names))
                raise ValueError(f"unknown score {_shown(name)} (known: {known})")
            if gate not in set(GateKind):
                raise ValueError(f"unknown gate {_shown(gate, 'value')} (known: {known_gates})")
        if isinstance(value, dict):
            for name, gate in value.items():
                fits = MINIMUM_GATES if name in MINIMUM_SCORES else MAXIMUM_GATES
                if GateKind(gate) not in fits:
                    kind = (
                        "threshold (a minimum)" if name in MINIMUM_SCORES else "limit (a maximum)"
                    )
                    allowed = " or ".join(sorted(fits))
                    raise ValueError(f"gate of {kind} '{name}' must be {allowed}")
        return value

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        _check_unit_values(value or {}, set(Limits.model_fields), "limit")
        return value

    @field_validator("promotion")
    @classmethod
    def _promotion_settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            if key not in PROMOTION_SETTINGS:
                known = ", ".join(sorted(PROMOTION_SETTINGS))
                raise ValueError(f"unknown promotion setting {_shown(key)} (known: {known})")
        try:
            PromotionPolicy.model_validate(value or {})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"promotion setting '{where}': {first['msg']}") from None
        return value

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        _check_unit_values(value, set(Thresholds.model_fields), "threshold")
        return value

    @field_validator("restrictions")
    @classmethod
    def _money_limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in ("max_cost_usd", "approval_above_cost_usd"):
            limit = value.get(key)
            if limit is not None and (
                isinstance(limit, bool)
                or not isinstance(limit, int | float)
                or not math.isfinite(limit)
                or limit < 0
            ):
                raise ValueError(f"restrictions.{key} must be a non-negative number of USD")
        return value

    def approval_cost_limit(self) -> float | None:
        """`restrictions.approval_above_cost_usd`: costlier jobs need a reviewer."""
        value = self.restrictions.get("approval_above_cost_usd")
        return float(value) if isinstance(value, int | float) else None

    def evaluation_thresholds(self) -> Thresholds:
        """The policy's thresholds; with none given, the contract's defaults apply."""
        if not self.thresholds:
            return Thresholds(pedagogy_score=0.8, safety_score=0.9)
        return Thresholds.model_validate(self.thresholds)

    def evaluation_gates(self) -> ScoreGates:
        """Each threshold's and limit's gate, and the limits. One bound given for all
        (`lower_bound` or `upper_bound`) applies the matching bound to every score: the
        lower to a minimum, the upper to a maximum."""
        gates: dict[str, GateKind] = {}
        if isinstance(self.gate, dict):
            gates = {name: GateKind(gate) for name, gate in self.gate.items()}
        elif self.gate is not None:
            chosen = GateKind(self.gate)
            for name in MINIMUM_SCORES:
                gates[name] = GateKind.point if chosen is GateKind.point else GateKind.lower_bound
            for name in MAXIMUM_SCORES:
                gates[name] = GateKind.point if chosen is GateKind.point else GateKind.upper_bound
        return ScoreGates.model_validate({**gates, "limits": self.limits or {}})


class DatasheetInfo(_CheckedExtras):
    """Required documentation of a dataset; extra tenant-specific fields are kept."""

    source: Label
    license: Label
    redaction: Label
    description: Description | None = None
    size: Annotated[int, Field(ge=0, le=INT64_MAX), IntegerOnly] | None = None
    collection_date: Annotated[UtcConvertibleDatetime, DateTimeText] | None = None


# ---- Workflow payloads -------------------------------------------------------------------


class StepTimeouts(BaseModel):
    """Activity timeouts; defaults suit production, tests shorten them."""

    validate_seconds: float = 600
    launch_seconds: float = 120
    wait_heartbeat_seconds: float = 120
    progress_report_seconds: float = 60
    evaluate_seconds: float = 1800
    promote_seconds: float = 60
    approval_timeout_seconds: float | None = None
    # A run continues as new (history stays bounded) once its history holds this many
    # events, or sooner when the server suggests it.
    continue_as_new_after_events: int = Field(default=5000, ge=1)


class TrainingJobInput(BaseModel):
    """What the job's steps need, as the API accepted it; never secrets or dataset bytes."""

    job_id: str
    tenant_id: str
    name: str
    description: str | None = None
    provider: Provider
    base_model: str
    dataset_uri: str
    # The policy's `promotion` settings as submitted (JSON; the champion gate reads them).
    promotion_policy: Any = None
    # The provider's config: OpenAI's (the contract's) or the self-hosted LoRA settings.
    config: AnyTrainingConfig = Field(default_factory=TrainingConfig)
    # The datasheet and the policy's restrictions as stored with the job (JSON).
    datasheet: dict[str, Any] | None = None
    restrictions: dict[str, Any] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    # How the thresholds are decided, and the limits (the policy's `gate` and `limits`).
    gates: ScoreGates = Field(default_factory=ScoreGates)
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    require_approval: bool = False
    # A job whose estimated training cost exceeds this also waits for approval.
    approval_above_cost_usd: float | None = None
    timeouts: StepTimeouts = Field(default_factory=StepTimeouts)
    # Set when a run continues as new: what the earlier runs learnt.
    resume: ResumeState | None = None


class TrainingProgress(BaseModel):
    provider_status: str | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_accuracy: float | None = None
    estimated_finish: datetime | None = None


class JobState(BaseModel):
    """What the `state` query returns: the live view of a running job."""

    job_id: str
    tenant_id: str
    status: JobStatus = JobStatus.pending
    stage: JobStage = JobStage.accepted
    provider_job_id: str | None = None
    fine_tuned_model: str | None = None
    progress: TrainingProgress = Field(default_factory=TrainingProgress)
    evaluation_id: str | None = None
    evaluation: EvaluationSummary | None = None
    promotion_id: str | None = None
    promoted: bool | None = None
    cancel_reason: str | None = None
    error_message: str | None = None
    error_code: str | None = None


class ResumeState(BaseModel):
    """Carried from one run to the next: training resumes waiting on the same provider job."""

    state: JobState
    provider_job_id: str
    costly: bool = False  # estimated cost above the policy's approval limit
    runs: int = 1  # how many runs came before this one


# Signal payloads: validated again when the workflow decodes them, so a value sent
# straight from the `temporal` CLI is held to the same rules as one sent through the API.


class CancelRequest(BaseModel):
    reason: Reason = "cancelled by request"
    requested_by: ShortText | None = None


class ApprovalDecision(BaseModel):
    reviewer: Name
    note: Note | None = None
