"""OpenAI fine-tuning through the official SDK (async client, configurable base URL)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import openai
from openai import AsyncOpenAI
from openai.types.fine_tuning import FineTuningJob

from activities.providers.base import BaseModelInfo, ProviderError, ProviderJob
from activities.providers.openai_translation import job_status, metric_point
from core.metrics import PROVIDER_REQUESTS
from core.models import AnyTrainingConfig, TrainingConfig, TrainingMethod
from core.provider_events import ProviderEvent
from core.training_steps import GpuTrainingPlan

T = TypeVar("T")

# The Files API takes up to 512 MB; larger files go through the Uploads API in parts.
MULTIPART_THRESHOLD_BYTES = 512 * 1024 * 1024
UPLOAD_PART_BYTES = 64 * 1024 * 1024


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).date()
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


def _to_provider_job(job: FineTuningJob) -> ProviderJob:
    return ProviderJob(
        id=job.id,
        status=job_status(job.status),
        raw_status=job.status,
        base_model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        training_file=job.training_file,
        error_code=job.error.code if job.error else None,
        error_message=job.error.message if job.error else None,
        created_at=_ts(job.created_at),
        finished_at=_ts(job.finished_at),
        estimated_finish=_ts(job.estimated_finish),
        metadata=dict(job.metadata or {}),
    )


def _classify(err: openai.APIError) -> ProviderError:
    """Rate limits, timeouts and 5xx are retryable; every other rejection is final."""
    if isinstance(err, openai.APIStatusError):
        body = err.body if isinstance(err.body, dict) else {}
        code = str(body.get("code") or err.code or f"http_{err.status_code}")
        message = str(body.get("message") or err.message)
        retryable = err.status_code == 429 or err.status_code >= 500
        if code == "insufficient_quota":
            retryable = False
        return ProviderError(message, code=code, retryable=retryable, status=err.status_code)
    if isinstance(err, openai.APIConnectionError):  # includes timeouts
        return ProviderError("provider unreachable", code="provider_unreachable", retryable=True)
    return ProviderError(str(err.message), code="provider_error", retryable=False)


def _failure_code(err: openai.APIError) -> str:
    if isinstance(err, openai.APIStatusError):
        return str(err.status_code)
    if isinstance(err, openai.APITimeoutError):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection_error"
    return "invalid_response"


@contextlib.contextmanager
def counted_call(operation: str, provider: str = "openai") -> Iterator[None]:
    """Count one call (after the SDK's own retries) in `trainer_provider_requests_total`."""
    try:
        yield
    except openai.APIError as err:
        PROVIDER_REQUESTS.labels(provider, operation, _failure_code(err)).inc()
        raise
    PROVIDER_REQUESTS.labels(provider, operation, "200").inc()


async def _call(operation: str, fn: Callable[[], Awaitable[T]]) -> T:
    try:
        with counted_call(operation):
            return await fn()
    except openai.APIError as err:
        raise _classify(err) from None


class OpenAIProvider:
    name = "openai"

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def base_model_info(self, model: str) -> BaseModelInfo | None:
        try:
            with counted_call("models.retrieve"):
                found = await self._client.models.retrieve(model)
        except openai.NotFoundError:
            return None
        except openai.APIError as err:
            raise _classify(err) from None
        extra: dict[str, Any] = found.model_extra or {}
        shutdown = getattr(found, "shutdown_date", None) or extra.get("shutdown_date")
        return BaseModelInfo(
            id=found.id,
            fine_tunable=bool(extra.get("fine_tunable", True)),
            shutdown_date=_as_date(shutdown),
        )

    def training_plan(self) -> GpuTrainingPlan | None:
        return None  # OpenAI trains on its own; the wait step polls it

    async def upload_training_file(
        self,
        path: Path,
        *,
        job_id: str,
        tenant_id: str,
        multipart_threshold: int = MULTIPART_THRESHOLD_BYTES,
        part_bytes: int = UPLOAD_PART_BYTES,
    ) -> str:
        """Upload the very file that was validated; past `multipart_threshold` bytes in
        parts through the Uploads API (the Files API refuses files over 512 MB)."""
        del tenant_id  # one organization's files: the name carries the job
        filename = f"{job_id}.jsonl"
        size = (await anyio.Path(path).stat()).st_size
        if size > multipart_threshold:
            return await self._upload_in_parts(path, filename, size, part_bytes)
        with path.open("rb") as handle:
            uploaded = await _call(
                "files.create",
                lambda: self._client.files.create(
                    file=(filename, handle, "application/jsonl"), purpose="fine-tune"
                ),
            )
        return uploaded.id

    async def _upload_in_parts(self, path: Path, filename: str, size: int, part_bytes: int) -> str:
        upload = await _call(
            "uploads.create",
            lambda: self._client.uploads.create(
                bytes=size, filename=filename, mime_type="application/jsonl", purpose="fine-tune"
            ),
        )
        checksum = hashlib.md5(usedforsecurity=False)
        part_ids: list[str] = []
        try:
            async with await anyio.open_file(path, "rb") as handle:
                # One part in memory at a time; the SDK retries a failed part on its own.
                while data := await handle.read(part_bytes):
                    await anyio.to_thread.run_sync(checksum.update, data)
                    part = await _call(
                        "uploads.parts.create",
                        functools.partial(self._client.uploads.parts.create, upload.id, data=data),
                    )
                    part_ids.append(part.id)
            completed = await _call(
                "uploads.complete",
                lambda: self._client.uploads.complete(
                    upload.id, part_ids=part_ids, md5=checksum.hexdigest()
                ),
            )
        except BaseException:
            await self._abandon_upload(upload.id)
            raise
        if completed.file is None:
            raise ProviderError(
                "the provider completed the upload without a file",
                code="upload_incomplete",
                retryable=True,
            )
        return completed.file.id

    async def _abandon_upload(self, upload_id: str) -> None:
        """Best effort: a retried attempt starts a new upload; this one would expire anyway."""
        with (
            anyio.CancelScope(shield=True),
            contextlib.suppress(openai.APIError),
            counted_call("uploads.cancel"),
        ):
            await self._client.uploads.cancel(upload_id)

    async def find_job(self, trainer_job_id: str) -> ProviderJob | None:
        page = await _call(
            "fine_tuning.jobs.list",
            lambda: self._client.fine_tuning.jobs.list(
                metadata={"trainer_job_id": trainer_job_id}, limit=10
            ),
        )
        for job in page.data:
            if (job.metadata or {}).get("trainer_job_id") == trainer_job_id:
                return _to_provider_job(job)
        return None

    async def create_job(
        self,
        *,
        base_model: str,
        training_file: str,
        config: AnyTrainingConfig,
        trainer_job_id: str,
        tenant_id: str,
    ) -> ProviderJob:
        if not isinstance(config, TrainingConfig):
            raise ProviderError(
                "config: OpenAI takes the contract's training config, not LoRA settings",
                code="invalid_config",
                retryable=False,
            )
        hyperparameters = {
            "n_epochs": config.n_epochs,
            "batch_size": config.batch_size,
            "learning_rate_multiplier": config.learning_rate_multiplier,
        }
        method: dict[str, Any] = {
            "type": config.method.value,
            config.method.value: {"hyperparameters": hyperparameters},
        }
        if config.method is TrainingMethod.dpo:
            method["dpo"]["hyperparameters"]["beta"] = "auto"
        job = await _call(
            "fine_tuning.jobs.create",
            lambda: self._client.fine_tuning.jobs.create(
                model=base_model,
                training_file=training_file,
                method=method,  # type: ignore[arg-type]
                suffix=config.suffix or None,
                seed=config.seed,
                metadata={"trainer_job_id": trainer_job_id, "tenant_id": tenant_id},
            ),
        )
        return _to_provider_job(job)

    async def get_job(self, provider_job_id: str) -> ProviderJob:
        job = await _call(
            "fine_tuning.jobs.retrieve",
            lambda: self._client.fine_tuning.jobs.retrieve(provider_job_id),
        )
        return _to_provider_job(job)

    async def events_since(
        self, provider_job_id: str, last_event_id: str | None
    ) -> list[ProviderEvent]:
        """Events newer than `last_event_id`, oldest first (the API lists newest first)."""
        collected: list[ProviderEvent] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 100}
            if after:
                kwargs["after"] = after
            page = await _call(
                "fine_tuning.jobs.list_events",
                functools.partial(
                    self._client.fine_tuning.jobs.list_events, provider_job_id, **kwargs
                ),
            )
            reached_known = False
            for event in page.data:
                if event.id == last_event_id:
                    reached_known = True
                    break
                created_at = datetime.fromtimestamp(event.created_at, tz=UTC)
                event_type = event.type or "message"
                data = event.data if isinstance(event.data, dict) else None
                collected.append(
                    ProviderEvent(
                        id=event.id,
                        created_at=created_at,
                        level=event.level,
                        type=event_type,
                        message=event.message,
                        data=data,
                        metric=metric_point(event_type, data, created_at),
                    )
                )
            if reached_known or not page.has_more or not page.data:
                break
            after = page.data[-1].id
        collected.reverse()
        return collected

    async def cancel_job(self, provider_job_id: str) -> ProviderJob:
        try:
            with counted_call("fine_tuning.jobs.cancel"):
                job = await self._client.fine_tuning.jobs.cancel(provider_job_id)
        except openai.BadRequestError:
            # Already terminal: report what it is now instead of failing the cleanup.
            return await self.get_job(provider_job_id)
        except openai.APIError as err:
            raise _classify(err) from None
        return _to_provider_job(job)

    async def ping(self) -> None:
        await _call("models.list", lambda: self._client.models.list())
