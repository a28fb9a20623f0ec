"""The fine-tuning provider interface. A second provider is one new module implementing it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from core.models import AnyTrainingConfig
from core.provider_events import ProviderEvent
from core.provider_status import ProviderJobStatus
from core.training_steps import GpuTrainingPlan


class ProviderError(Exception):
    """A provider call failed. `retryable` separates rate limits/outages from rejections."""

    def __init__(self, message: str, *, code: str, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status


class BaseModelInfo(BaseModel):
    id: str
    fine_tunable: bool
    shutdown_date: date | None = None


class ProviderJob(BaseModel):
    id: str
    # What the workflow acts on, mapped by the provider from its own status.
    status: ProviderJobStatus
    # The provider's own word for it, shown as the job's `progress.provider_status`.
    raw_status: str
    base_model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    training_file: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    estimated_finish: datetime | None = None
    metadata: dict[str, str] = {}

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal


class FineTuningProvider(Protocol):
    name: str

    async def base_model_info(self, model: str) -> BaseModelInfo | None: ...

    async def upload_training_file(self, path: Path, *, job_id: str, tenant_id: str) -> str:
        """Hand the validated file to the provider; what launch names as the training file."""
        ...

    def training_plan(self) -> GpuTrainingPlan | None:
        """Where training runs when this service runs it (a GPU task queue); None when the
        provider trains on its own and the wait step polls it."""
        ...

    async def find_job(self, trainer_job_id: str) -> ProviderJob | None: ...

    async def create_job(
        self,
        *,
        base_model: str,
        training_file: str,
        config: AnyTrainingConfig,
        trainer_job_id: str,
        tenant_id: str,
    ) -> ProviderJob: ...

    async def get_job(self, provider_job_id: str) -> ProviderJob: ...

    async def events_since(
        self, provider_job_id: str, last_event_id: str | None
    ) -> list[ProviderEvent]: ...

    async def cancel_job(self, provider_job_id: str) -> ProviderJob: ...

    async def ping(self) -> None: ...
