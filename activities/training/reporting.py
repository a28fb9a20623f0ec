"""The training step's reports, recorded as the job's events, metric points and progress:
the same rows the OpenAI wait step writes, so /events, /metrics, the CLI and the UI show a
self-hosted run exactly like an OpenAI one. Event ids are stable, so a retried attempt that
reports a step again adds nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from activities.training.spec import DoneEvent, ProgressEvent, TrainerEvent
from core.adapter_manifest import LossCurveSummary, summarize_loss_curve
from core.models import JobStage, TrainingProgress
from core.provider_events import ProviderEvent, TrainingMetricPoint
from core.training_steps import TrainingCheckpoint
from store import jobs


class TrainingReporter:
    def __init__(self, pool: asyncpg.Pool, job_id: str, attempt: int) -> None:
        self._pool = pool
        self._job_id = job_id
        self._attempt = attempt
        self._losses: list[tuple[int, float]] = []
        self._latest: ProgressEvent | None = None

    def latest_progress(self) -> dict[str, Any] | None:
        """The newest step's figures, as heartbeat details show them."""
        if self._latest is None:
            return None
        return self._latest.model_dump(mode="json", exclude={"kind"})

    def loss_curve(self) -> LossCurveSummary | None:
        """The losses this attempt saw (a resumed one starts at its checkpoint)."""
        return summarize_loss_curve(self._losses)

    async def report(self, event: TrainerEvent) -> None:
        if not isinstance(event, ProgressEvent):
            return
        now = datetime.now(UTC)
        self._losses.append((event.step, event.train_loss))
        self._latest = event
        point = TrainingMetricPoint(
            step=event.step,
            recorded_at=now,
            total_steps=event.total_steps,
            train_loss=event.train_loss,
            train_token_accuracy=event.token_accuracy,
            learning_rate=event.learning_rate,
            epoch=event.epoch,
        )
        loss = f", training loss {event.train_loss:.4f}" if event.train_loss is not None else ""
        of_total = f"/{event.total_steps}" if event.total_steps else ""
        await self._record(
            f"step-{event.step}",
            "metrics",
            f"Step {event.step}{of_total}{loss}",
            data=point.model_dump(mode="json", exclude={"recorded_at"}),
            metric=point,
            at=now,
        )
        progress = TrainingProgress(
            provider_status="running",
            step=event.step,
            total_steps=event.total_steps,
            train_loss=event.train_loss,
            train_accuracy=event.token_accuracy,
        )
        await jobs.record_progress(self._pool, self._job_id, progress, JobStage.training)

    async def resumed(self, checkpoint: TrainingCheckpoint) -> None:
        await self._record(
            f"resumed-{self._attempt}",
            "message",
            f"Training resumed from the checkpoint at step {checkpoint.step}",
            data={"step": checkpoint.step, "attempt": self._attempt},
        )

    async def checkpoint_saved(self, checkpoint: TrainingCheckpoint) -> None:
        await self._record(
            f"checkpoint-{checkpoint.step}",
            "message",
            f"Checkpoint at step {checkpoint.step} saved to the artifact store",
            data={"step": checkpoint.step, "uri": checkpoint.uri},
        )

    async def finished(self, done: DoneEvent) -> None:
        await self._record(
            "adapter-written",
            "message",
            f"Training finished after {done.steps} steps; the adapter is in the artifact store",
            data={"steps": done.steps, "train_loss": done.train_loss},
        )

    async def _record(
        self,
        event_id: str,
        event_type: str,
        message: str,
        *,
        data: dict[str, Any],
        metric: TrainingMetricPoint | None = None,
        at: datetime | None = None,
    ) -> None:
        event = ProviderEvent(
            id=event_id,
            created_at=at or datetime.now(UTC),
            level="info",
            type=event_type,
            message=message,
            data=data,
            metric=metric,
        )
        await jobs.record_events(self._pool, self._job_id, [event])
