"""Training curves of a job: the points recorded in `job_metrics` as JSON, and the same
curves drawn as a chart (SVG or PNG, see `api.training_curves`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.auth import Caller
from api.deps import ERRORS, CallerDep, StateDep, require_job
from api.json_body import StrictJSONRoute
from api.state import AppState
from api.training_curves import MEDIA_TYPES, Chart, ImageFormat, MetricPoint, draw
from core.training_config import epochs_of, stored_config
from store.metrics import job_metric_rows
from store.rows import JobRow

router = APIRouter(prefix="/trainer/jobs", tags=["Training Jobs"], route_class=StrictJSONRoute)


class JobMetrics(BaseModel):
    job_id: str
    total_steps: int | None = Field(
        default=None, description="Steps the provider plans for the whole run"
    )
    points: list[MetricPoint] = Field(description="One point per recorded step, in step order")


async def load_points(pool: asyncpg.Pool, job_id: str) -> tuple[list[MetricPoint], int | None]:
    rows = await job_metric_rows(pool, job_id)
    points = [
        MetricPoint(
            step=r.step,
            train_loss=r.train_loss,
            valid_loss=r.valid_loss,
            train_accuracy=r.train_accuracy,
            valid_accuracy=r.valid_accuracy,
            learning_rate=r.learning_rate,
            epoch=r.epoch,
        )
        for r in rows
    ]
    totals = [r.total_steps for r in rows if r.total_steps is not None]
    return points, max(totals) if totals else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def planned_steps(job: JobRow, recorded: int | None) -> int | None:
    progress = job.progress or {}
    return recorded or _int_or_none(progress.get("total_steps"))


def planned_epochs(job: JobRow) -> int | None:
    """The epochs the job's config asks for, whichever provider's; None without one."""
    config = stored_config(job.provider, job.config)
    return epochs_of(config) if config is not None else None


def chart_for(job: JobRow, points: Sequence[MetricPoint], total_steps: int | None) -> Chart:
    terminal = job.status.is_terminal
    if job.provider_model_id:
        details = [job.provider_model_id, f"base {job.base_model}"]
    else:
        missing = "no fine-tuned model" if terminal else "not fine-tuned yet"
        details = [f"{job.base_model} ({missing})"]
    details.append(f"{len(points)} of {total_steps} steps" if total_steps else job.status)
    return Chart(
        empty_message="No training metrics recorded" + ("" if terminal else " yet"),
        title=job.name,
        subtitle="  ·  ".join(details),
        points=points,
        total_steps=total_steps,
        epochs=planned_epochs(job),
    )


@router.get(
    "/{job_id}/metrics",
    response_model=JobMetrics,
    responses=ERRORS,
    summary="Training curves: loss, token accuracy and learning rate per step",
)
async def job_metrics(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> JobMetrics:
    job = await require_job(st, caller, job_id)
    points, total = await load_points(st.pool, str(job_id))
    return JobMetrics(job_id=str(job_id), total_steps=planned_steps(job, total), points=points)


async def _image(
    job_id: uuid.UUID, caller: Caller, st: AppState, image_format: ImageFormat
) -> Response:
    job = await require_job(st, caller, job_id)
    points, total = await load_points(st.pool, str(job_id))
    chart = chart_for(job, points, planned_steps(job, total))
    body = await asyncio.to_thread(draw, chart, image_format)
    return Response(
        content=body,
        media_type=MEDIA_TYPES[image_format],
        headers={"Cache-Control": "no-cache"},
    )


def _image_responses(image_format: ImageFormat) -> dict[int | str, dict[str, Any]]:
    return {
        **ERRORS,
        200: {
            "content": {MEDIA_TYPES[image_format]: {}},
            "description": "The training curves drawn as a chart",
        },
    }


@router.get(
    "/{job_id}/metrics.svg",
    response_class=Response,
    responses=_image_responses(ImageFormat.svg),
    summary="Training curves as an SVG chart",
)
async def job_metrics_svg(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> Response:
    return await _image(job_id, caller, st, ImageFormat.svg)


@router.get(
    "/{job_id}/metrics.png",
    response_class=Response,
    responses=_image_responses(ImageFormat.png),
    summary="Training curves as a PNG chart",
)
async def job_metrics_png(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> Response:
    return await _image(job_id, caller, st, ImageFormat.png)
