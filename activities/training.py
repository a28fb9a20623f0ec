"""Training-job activities: validate, launch, wait, cancel at the provider, finish.

Each activity writes its own step to the PostgreSQL projection (idempotently), so the
workflow needs no separate bookkeeping activities.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.datasets.step import fetch_and_analyse
from activities.deps import ActivityDeps, UnsupportedProvider
from activities.evaluation.contamination import TrainingFingerprints
from activities.heartbeat import heartbeating
from activities.providers.base import FineTuningProvider, ProviderError, ProviderJob
from core.metrics import record_training, timed_step
from core.models import JobStage, JobStatus, TrainingConfig, TrainingMethod, TrainingProgress
from core.pricing import training_cost_usd
from core.steps import (
    CancelProviderResult,
    DatasetInspection,
    FinishJobInput,
    InspectDatasetInput,
    JobRef,
    LaunchResult,
    StageInput,
    ValidationSummary,
    WaitInput,
    WaitResult,
)
from core.text_sanitize import (
    ERROR_MESSAGE_MAX_CHARS,
    minimal_text,
    safe_code,
    safe_optional_text,
)
from store import jobs
from store.fingerprints import save_fingerprints

_QUEUED_STATUSES = {"validating_files", "queued"}


def non_retryable(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


def provider_failure(err: ProviderError) -> Exception:
    """Retryable provider errors propagate (Temporal retries); rejections end the step."""
    if err.retryable:
        return ApplicationError(err.message, type=f"provider_{err.code}")
    return non_retryable(err.code, f"provider rejected the request: {err.message}")


class TrainingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    def _provider(self, name: str) -> FineTuningProvider:
        try:
            return self._deps.provider(name)
        except UnsupportedProvider as err:
            raise non_retryable("provider_unsupported", str(err)) from None

    @activity.defn(name="validate_dataset")
    @timed_step
    @heartbeating
    async def validate_dataset(self, ref: JobRef) -> ValidationSummary:
        """Fetch the dataset once, analyse it in one pass, and upload exactly those bytes.

        Nothing reaches the provider unless the data, its datasheet and the base model
        pass; the provider then trains on the very file that was validated.
        """
        pool, settings = self._deps.pool, self._deps.settings
        job = await jobs.load_job(pool, ref.job_id)
        await jobs.count_attempt(pool, ref.job_id, activity.info().attempt)
        await jobs.set_status(pool, ref.job_id, JobStatus.validating, JobStage.validating)
        shutdown = await self._check_base_model(job["provider"], job["base_model"])
        config = TrainingConfig.model_validate(job["config"])
        fmt = "dpo" if config.method is TrainingMethod.dpo else "chat"
        with tempfile.TemporaryDirectory(prefix="trainer-dataset-") as spool:
            path = Path(spool) / "dataset.jsonl"
            prompts = TrainingFingerprints()
            analysis, report = await fetch_and_analyse(
                path,
                uri=job["dataset_uri"],
                tenant_id=job["tenant_id"],
                fmt=fmt,
                base_model=job["base_model"],
                datasheet=job["datasheet"],
                restrictions=(job["policy"] or {}).get("restrictions") or {},
                n_epochs=config.n_epochs,
                settings=settings,
                also=prompts.add_example,
            )
            await jobs.record_validation(pool, ref.job_id, report)
            if not analysis.ok:
                raise non_retryable(
                    "dataset_invalid",
                    f"dataset or datasheet invalid ({analysis.error_count} error(s)): "
                    + analysis.errors_text(5).replace("\n", "; "),
                )
            await save_fingerprints(pool, ref.job_id, prompts.fingerprints)
            if job["provider_file_id"] is None:
                await jobs.set_stage(pool, ref.job_id, JobStage.uploading)
                provider = self._provider(job["provider"])
                try:
                    file_id = await provider.upload_training_file(path, f"{ref.job_id}.jsonl")
                except ProviderError as err:
                    raise provider_failure(err) from None
                await jobs.record_uploaded_file(pool, ref.job_id, file_id)
        return ValidationSummary(
            examples=analysis.report.stats.examples,
            format=fmt,
            warning_count=analysis.report.warning_count,
            base_model_shutdown_date=shutdown.isoformat() if shutdown else None,
            estimated_cost_usd=analysis.cost.cost_usd,
            training_tokens_estimate=analysis.cost.training_tokens,
        )

    @activity.defn(name="inspect_dataset")
    @timed_step
    async def inspect_dataset(self, req: InspectDatasetInput) -> DatasetInspection:
        """The validate step's report for a dataset, without a job and without uploading."""
        settings = self._deps.settings
        small = settings.model_copy(
            update={
                "dataset_max_bytes": min(
                    settings.dataset_max_bytes, settings.dataset_sync_validate_max_bytes
                )
            }
        )
        base_model_problem = None
        try:
            await self._check_base_model(req.provider, req.base_model)
        except ApplicationError as err:
            if err.non_retryable:
                base_model_problem = {"code": err.type, "message": err.message}
            else:
                raise
        fmt = "dpo" if req.method == TrainingMethod.dpo.value else "chat"
        with tempfile.TemporaryDirectory(prefix="trainer-check-") as spool:
            analysis, report = await fetch_and_analyse(
                Path(spool) / "dataset.jsonl",
                uri=req.dataset_uri,
                tenant_id=req.tenant_id,
                fmt=fmt,
                base_model=req.base_model,
                datasheet=req.datasheet,
                restrictions=req.restrictions,
                n_epochs=req.n_epochs,
                settings=small,
            )
        report["base_model"] = base_model_problem or {"code": "ok", "message": req.base_model}
        ok = analysis.ok and base_model_problem is None
        report["ok"] = ok
        return DatasetInspection(ok=ok, report=report)

    async def _check_base_model(self, provider_name: str, base_model: str) -> date | None:
        provider = self._provider(provider_name)
        try:
            info = await provider.base_model_info(base_model)
        except ProviderError as err:
            raise provider_failure(err) from None
        if info is None:
            raise non_retryable(
                "base_model_unknown", f"baseModel '{base_model}' is unknown to {provider_name}"
            )
        if not info.fine_tunable:
            raise non_retryable(
                "base_model_not_fine_tunable", f"baseModel '{base_model}' cannot be fine-tuned"
            )
        window = timedelta(days=self._deps.settings.base_model_shutdown_window_days)
        today = datetime.now(UTC).date()
        if info.shutdown_date is not None and info.shutdown_date - today <= window:
            raise non_retryable(
                "base_model_retiring",
                f"baseModel '{base_model}' shuts down on {info.shutdown_date.isoformat()}, "
                f"within {window.days} days; choose a newer base model",
            )
        return info.shutdown_date

    @activity.defn(name="launch_fine_tune")
    @timed_step
    async def launch_fine_tune(self, ref: JobRef) -> LaunchResult:
        """Create the provider job exactly once: look it up by our job id before creating."""
        pool = self._deps.pool
        job = await jobs.load_job(pool, ref.job_id)
        await jobs.set_status(pool, ref.job_id, JobStatus.training, JobStage.queued_at_provider)
        provider = self._provider(job["provider"])
        try:
            existing = await provider.find_job(ref.job_id)
            if existing is not None:
                await jobs.record_provider_job(
                    pool, ref.job_id, existing.id, {"training_file": existing.training_file}
                )
                return LaunchResult(
                    provider_job_id=existing.id,
                    provider_status=existing.status,
                    reused_existing=True,
                )
            file_id = job["provider_file_id"]
            if file_id is None:
                raise non_retryable(
                    "dataset_not_uploaded", "the validated dataset was never uploaded"
                )
            created = await provider.create_job(
                base_model=job["base_model"],
                training_file=file_id,
                config=TrainingConfig.model_validate(job["config"]),
                trainer_job_id=ref.job_id,
                tenant_id=job["tenant_id"],
            )
        except ProviderError as err:
            raise provider_failure(err) from None
        await jobs.record_provider_job(
            pool, ref.job_id, created.id, {"training_file": created.training_file}
        )
        await jobs.set_stage(pool, ref.job_id, JobStage.queued_at_provider)
        return LaunchResult(provider_job_id=created.id, provider_status=created.status)

    @activity.defn(name="wait_for_fine_tune")
    @timed_step
    async def wait_for_fine_tune(self, wait: WaitInput) -> WaitResult:
        """Poll the provider, record events and metrics, heartbeat the last event seen.

        Returns when the provider job ends, or after `report_after_seconds` so the
        workflow can refresh its live state; a restarted attempt resumes from the
        heartbeat's last event id.
        """
        pool, settings = self._deps.pool, self._deps.settings
        job_row = await jobs.load_job(pool, wait.job_id)
        provider = self._provider(job_row["provider"])
        details = activity.info().heartbeat_details
        last_event_id: str | None = details[0] if details else None
        started = time.monotonic()
        while True:
            try:
                provider_job = await provider.get_job(wait.provider_job_id)
                events = await provider.events_since(wait.provider_job_id, last_event_id)
            except ProviderError as err:
                raise provider_failure(err) from None
            await jobs.record_events(pool, wait.job_id, events)
            if events:
                last_event_id = events[-1].id
            progress = await self._progress(wait.job_id, provider_job)
            stage = (
                JobStage.queued_at_provider
                if provider_job.status in _QUEUED_STATUSES
                else JobStage.training
            )
            await jobs.record_progress(pool, wait.job_id, progress, stage)
            activity.heartbeat(last_event_id)
            if provider_job.is_terminal:
                return await self._finish_training(wait.job_id, job_row, provider_job, progress)
            if time.monotonic() - started >= wait.report_after_seconds:
                return WaitResult(
                    done=False, provider_status=provider_job.status, progress=progress
                )
            await asyncio.sleep(settings.provider_poll_seconds)

    async def _progress(self, job_id: str, provider_job: ProviderJob) -> TrainingProgress:
        latest = await self._deps.pool.fetchrow(
            "SELECT step, total_steps, train_loss, valid_loss, train_accuracy "
            "FROM job_metrics WHERE job_id = $1 ORDER BY step DESC LIMIT 1",
            job_id,
        )
        return TrainingProgress(
            provider_status=provider_job.status,
            step=latest["step"] if latest else None,
            total_steps=latest["total_steps"] if latest else None,
            train_loss=latest["train_loss"] if latest else None,
            valid_loss=latest["valid_loss"] if latest else None,
            train_accuracy=latest["train_accuracy"] if latest else None,
            estimated_finish=provider_job.estimated_finish,
        )

    async def _finish_training(
        self,
        job_id: str,
        job_row: asyncpg.Record,
        provider_job: ProviderJob,
        progress: TrainingProgress,
    ) -> WaitResult:
        duration = None
        if provider_job.created_at and provider_job.finished_at:
            duration = int((provider_job.finished_at - provider_job.created_at).total_seconds())
        cost = training_cost_usd(provider_job.base_model, provider_job.trained_tokens)
        await jobs.record_training_result(
            self._deps.pool,
            job_id,
            fine_tuned_model=provider_job.fine_tuned_model,
            trained_tokens=provider_job.trained_tokens,
            training_cost=cost,
            training_duration=duration,
        )
        record_training(
            job_row["tenant_id"], job_row["base_model"], provider_job.trained_tokens, cost
        )
        return WaitResult(
            done=True,
            provider_status=provider_job.status,
            progress=progress,
            fine_tuned_model=provider_job.fine_tuned_model,
            trained_tokens=provider_job.trained_tokens,
            error_code=provider_job.error_code,
            error_message=provider_job.error_message,
        )

    @activity.defn(name="cancel_fine_tune")
    @timed_step
    async def cancel_fine_tune(self, ref: JobRef) -> CancelProviderResult:
        """Cancel the provider job, found by our id even if launch never reported back."""
        pool = self._deps.pool
        job = await jobs.load_job(pool, ref.job_id)
        await jobs.set_stage(pool, ref.job_id, JobStage.cancelling)
        provider = self._provider(job["provider"])
        try:
            provider_job_id = job["provider_job_id"]
            if provider_job_id is None:
                found = await provider.find_job(ref.job_id)
                provider_job_id = found.id if found else None
            if provider_job_id is None:
                return CancelProviderResult()
            cancelled = await provider.cancel_job(provider_job_id)
        except ProviderError as err:
            raise provider_failure(err) from None
        return CancelProviderResult(provider_job_id=cancelled.id, provider_status=cancelled.status)

    @activity.defn(name="set_job_stage")
    @timed_step
    async def set_job_stage(self, stage: StageInput) -> None:
        await jobs.set_stage(self._deps.pool, stage.job_id, stage.stage)

    @activity.defn(name="finish_job")
    @timed_step
    async def finish_job(self, finish: FinishJobInput) -> None:
        """Record the job's end; text the database refuses is reduced, then given up."""
        message = safe_optional_text(finish.error_message, ERROR_MESSAGE_MAX_CHARS)
        code = safe_code(finish.error_code) if finish.error_code is not None else None
        for attempt_message in (message, minimal_text(message)):
            try:
                await jobs.finish(
                    self._deps.pool,
                    finish.job_id,
                    finish.status,
                    error_message=attempt_message,
                    error_code=code,
                )
                return
            except asyncpg.DataError:
                continue  # the same values would be refused again: try the reduced form
        # Retrying cannot help; the workflow falls back to `force_finish_job`.
        raise non_retryable("finish_record_refused", "the database refused the job's end record")
