"""The self-hosted provider: open-weights base models from the deployment's catalogue,
fine-tuned with LoRA by this service's own GPU workers.

No outside system holds the job. Launch puts the validated file in the artifact store and
writes a launch record there (found again by the job's id, so launch happens once); the
training itself is the GPU task queue's `train_adapter` activity (`training_plan`), which
reports progress as events and leaves the adapter and its manifest in the store. What
this class answers about a job comes from those artifacts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from activities.artifacts.store import ArtifactStore
from activities.providers.base import BaseModelInfo, ProviderError, ProviderJob
from activities.training import artifact_keys as keys
from core.adapter_manifest import AdapterManifest
from core.base_model_catalogue import BaseModelCatalogue
from core.models import AnyTrainingConfig
from core.provider_events import ProviderEvent
from core.provider_status import ProviderJobStatus
from core.settings import Settings
from core.training_steps import GpuTrainingPlan


class LaunchRecord(BaseModel):
    provider_job_id: str
    job_id: str
    tenant_id: str
    base_model: str
    training_file: str
    config: dict[str, object]
    created_at: datetime


class SelfHostedProvider:
    name = "self_hosted"

    def __init__(
        self, settings: Settings, catalogue: BaseModelCatalogue, artifacts: ArtifactStore
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._artifacts = artifacts

    async def base_model_info(self, model: str) -> BaseModelInfo | None:
        if self._catalogue.model(model) is None:
            return None
        return BaseModelInfo(id=model, fine_tunable=True)

    def training_plan(self) -> GpuTrainingPlan | None:
        return GpuTrainingPlan(
            task_queue=self._settings.gpu_task_queue,
            heartbeat_timeout_seconds=self._settings.self_hosted_heartbeat_timeout_seconds,
            timeout_seconds=self._settings.self_hosted_training_timeout_seconds,
        )

    async def upload_training_file(self, path: Path, *, job_id: str, tenant_id: str) -> str:
        stored = await self._artifacts.put_file(keys.dataset_key(tenant_id, job_id), path)
        return stored.uri

    async def find_job(self, trainer_job_id: str) -> ProviderJob | None:
        raw = await self._artifacts.get_bytes(keys.launch_key(trainer_job_id))
        if raw is None:
            return None
        try:
            record = LaunchRecord.model_validate_json(raw)
        except ValidationError:
            raise ProviderError(
                "the job's launch record is unreadable",
                code="launch_record_invalid",
                retryable=False,
            ) from None
        return await self._job_from(record)

    async def create_job(
        self,
        *,
        base_model: str,
        training_file: str,
        config: AnyTrainingConfig,
        trainer_job_id: str,
        tenant_id: str,
    ) -> ProviderJob:
        if self._catalogue.model(base_model) is None:
            raise ProviderError(
                f"baseModel '{base_model}' is not in this deployment's catalogue",
                code="base_model_unknown",
                retryable=False,
            )
        record = LaunchRecord(
            provider_job_id=keys.provider_job_id(trainer_job_id),
            job_id=trainer_job_id,
            tenant_id=tenant_id,
            base_model=base_model,
            training_file=training_file,
            config=config.model_dump(mode="json"),
            created_at=datetime.now(UTC),
        )
        await self._artifacts.put_bytes(
            keys.launch_key(trainer_job_id), record.model_dump_json().encode()
        )
        return await self._job_from(record)

    async def get_job(self, provider_job_id: str) -> ProviderJob:
        job_id = provider_job_id.removeprefix("sh-")
        found = await self.find_job(job_id)
        if found is None:
            raise ProviderError(
                f"no self-hosted job {provider_job_id}", code="not_found", retryable=False
            )
        return found

    async def events_since(
        self, provider_job_id: str, last_event_id: str | None
    ) -> list[ProviderEvent]:
        # The training step records its events as they happen; there is nothing to fetch.
        del provider_job_id, last_event_id
        return []

    async def cancel_job(self, provider_job_id: str) -> ProviderJob:
        """Cancelling the training activity stops the trainer; the job reads cancelled
        unless its adapter was already written."""
        job = await self.get_job(provider_job_id)
        if job.status is ProviderJobStatus.succeeded:
            return job
        return job.model_copy(
            update={"status": ProviderJobStatus.cancelled, "raw_status": "cancelled"}
        )

    async def ping(self) -> None:
        await self._artifacts.exists(keys.launch_key("health-check"))

    async def _job_from(self, record: LaunchRecord) -> ProviderJob:
        manifest = await self._manifest(record)
        status = ProviderJobStatus.succeeded if manifest else ProviderJobStatus.running
        return ProviderJob(
            id=record.provider_job_id,
            status=status,
            raw_status=status.value,
            base_model=record.base_model,
            fine_tuned_model=(
                keys.fine_tuned_model_id(record.base_model, record.job_id) if manifest else None
            ),
            trained_tokens=_trained_tokens(manifest),
            training_file=record.training_file,
            created_at=record.created_at,
            finished_at=manifest.created_at if manifest else None,
            metadata={"trainer_job_id": record.job_id},
        )

    async def _manifest(self, record: LaunchRecord) -> AdapterManifest | None:
        raw = await self._artifacts.get_bytes(keys.manifest_key(record.tenant_id, record.job_id))
        return AdapterManifest.model_validate_json(raw) if raw is not None else None


def _trained_tokens(manifest: AdapterManifest | None) -> int | None:
    return manifest.metrics.trained_tokens if manifest is not None else None
