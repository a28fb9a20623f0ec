"""Provider activities: launch the fine-tuning job, wait for it, cancel it.

Each writes the facts it produces (the provider job's id, its events and metrics, the
training result) to the projection; what it needs arrives in its input. None of them moves
the job's status: the workflow does.
"""

from __future__ import annotations

import asyncio
import time

from temporalio import activity

from activities.deps import ActivityDeps
from activities.providers.base import ProviderError, ProviderJob
from activities.providers.failures import non_retryable, provider_failure, provider_for
from core.metrics import record_training, timed_step
from core.models import JobStage, TrainingProgress
from core.pricing import training_cost_usd
from core.provider_status import ProviderJobStatus
from core.steps import (
    CancelProviderInput,
    CancelProviderResult,
    LaunchInput,
    LaunchResult,
    WaitInput,
    WaitResult,
)
from store import jobs


class ProviderActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="launch_fine_tune")
    @timed_step
    async def launch_fine_tune(self, inp: LaunchInput) -> LaunchResult:
        """Create the provider job exactly once: look it up by our job id before creating."""
        pool = self._deps.pool
        provider = provider_for(self._deps, inp.provider)
        try:
            existing = await provider.find_job(inp.job_id)
            if existing is not None:
                await jobs.record_provider_job(
                    pool, inp.job_id, existing.id, {"training_file": existing.training_file}
                )
                return LaunchResult(
                    provider_job_id=existing.id,
                    provider_status=existing.status,
                    reused_existing=True,
                    gpu_training=provider.training_plan(),
                )
            if not inp.training_file:
                raise non_retryable(
                    "dataset_not_uploaded", "the validated dataset was never uploaded"
                )
            created = await provider.create_job(
                base_model=inp.base_model,
                training_file=inp.training_file,
                config=inp.config,
                trainer_job_id=inp.job_id,
                tenant_id=inp.tenant_id,
            )
        except ProviderError as err:
            raise provider_failure(err) from None
        await jobs.record_provider_job(
            pool, inp.job_id, created.id, {"training_file": created.training_file}
        )
        return LaunchResult(
            provider_job_id=created.id,
            provider_status=created.status,
            gpu_training=provider.training_plan(),
        )

    @activity.defn(name="wait_for_fine_tune")
    @timed_step
    async def wait_for_fine_tune(self, wait: WaitInput) -> WaitResult:
        """Poll the provider, record events and metrics, heartbeat the last event seen.

        Returns when the provider job ends, or after `report_after_seconds` so the
        workflow can refresh its live state; a restarted attempt resumes from the
        heartbeat's last event id.
        """
        pool, settings = self._deps.pool, self._deps.settings
        provider = provider_for(self._deps, wait.provider)
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
            progress = (await jobs.latest_metrics(pool, wait.job_id)).model_copy(
                update={
                    "provider_status": provider_job.raw_status,
                    "estimated_finish": provider_job.estimated_finish,
                }
            )
            # Queued or running at the provider: part of the progress this step reports.
            stage = (
                JobStage.queued_at_provider
                if provider_job.status is ProviderJobStatus.queued
                else JobStage.training
            )
            await jobs.record_progress(pool, wait.job_id, progress, stage)
            activity.heartbeat(last_event_id)
            if provider_job.is_terminal:
                return await self._training_result(wait, provider_job, progress)
            if time.monotonic() - started >= wait.report_after_seconds:
                return WaitResult(
                    done=False, provider_status=provider_job.status, progress=progress
                )
            await asyncio.sleep(settings.provider_poll_seconds)

    async def _training_result(
        self, wait: WaitInput, provider_job: ProviderJob, progress: TrainingProgress
    ) -> WaitResult:
        duration = None
        if provider_job.created_at and provider_job.finished_at:
            duration = int((provider_job.finished_at - provider_job.created_at).total_seconds())
        cost = training_cost_usd(provider_job.base_model, provider_job.trained_tokens)
        await jobs.record_training_result(
            self._deps.pool,
            wait.job_id,
            fine_tuned_model=provider_job.fine_tuned_model,
            trained_tokens=provider_job.trained_tokens,
            training_cost=cost,
            training_duration=duration,
        )
        record_training(wait.tenant_id, wait.base_model, provider_job.trained_tokens, cost)
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
    async def cancel_fine_tune(self, inp: CancelProviderInput) -> CancelProviderResult:
        """Cancel the provider job, found by our id even if launch never reported back."""
        provider = provider_for(self._deps, inp.provider)
        try:
            provider_job_id = inp.provider_job_id
            if provider_job_id is None:
                found = await provider.find_job(inp.job_id)
                provider_job_id = found.id if found else None
            if provider_job_id is None:
                return CancelProviderResult()
            cancelled = await provider.cancel_job(provider_job_id)
        except ProviderError as err:
            raise provider_failure(err) from None
        return CancelProviderResult(provider_job_id=cancelled.id, provider_status=cancelled.status)
