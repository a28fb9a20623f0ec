"""`/v1/fine_tuning/jobs`: create, list, retrieve and cancel jobs; their events and checkpoints."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from ..errors import invalid_request
from ..jobs import Job
from .deps import EmulatorDep, int_param, json_body, page

router = APIRouter(prefix="/v1/fine_tuning/jobs")

_METADATA_FILTER = re.compile(r"^metadata\[(.+)\]$")


@router.post("")
async def create_job(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    now = emulator.tick()
    job = emulator.create_job(body, now)
    return job.to_api(now)


@router.get("")
async def list_jobs(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    now = emulator.tick()
    params = request.query_params
    jobs = _filtered(emulator.list_jobs(), request)
    limit = int_param(request, "limit", 20, 1, 100)
    listed = page([j.to_api(now) for j in jobs], params.get("after"), limit)
    return {"object": "list", "data": listed["data"], "has_more": listed["has_more"]}


def _filtered(jobs: list[Job], request: Request) -> list[Job]:
    """Jobs matching `metadata[key]=value` filters, or only those without metadata."""
    params = request.query_params
    wanted: dict[str, str] = {}
    for key, value in params.multi_items():
        match = _METADATA_FILTER.match(key)
        if match:
            wanted[match.group(1)] = value
    null_only = params.get("metadata") == "null"
    if null_only and wanted:
        raise invalid_request(
            "Do not combine 'metadata=null' with 'metadata[key]=value' filters.", "metadata"
        )
    if null_only:
        return [j for j in jobs if not j.metadata]
    if wanted:
        return [
            j for j in jobs if j.metadata and all(j.metadata.get(k) == v for k, v in wanted.items())
        ]
    return jobs


@router.get("/{fine_tuning_job_id}")
async def retrieve_job(emulator: EmulatorDep, fine_tuning_job_id: str) -> dict[str, Any]:
    now = emulator.tick()
    return emulator.get_job(fine_tuning_job_id).to_api(now)


@router.post("/{fine_tuning_job_id}/cancel")
async def cancel_job(emulator: EmulatorDep, fine_tuning_job_id: str) -> dict[str, Any]:
    now = emulator.tick()
    return emulator.cancel_job(fine_tuning_job_id, now).to_api(now)


@router.get("/{fine_tuning_job_id}/events")
async def list_events(
    emulator: EmulatorDep, fine_tuning_job_id: str, request: Request
) -> dict[str, Any]:
    now = emulator.tick()
    job = emulator.get_job(fine_tuning_job_id)
    events = [job.event_to_api(e) for e in reversed(job.events(now))]
    limit = int_param(request, "limit", 20, 1, 1000)
    listed = page(events, request.query_params.get("after"), limit)
    return {"object": "list", "data": listed["data"], "has_more": listed["has_more"]}


@router.get("/{fine_tuning_job_id}/checkpoints")
async def list_checkpoints(
    emulator: EmulatorDep, fine_tuning_job_id: str, request: Request
) -> dict[str, Any]:
    now = emulator.tick()
    job = emulator.get_job(fine_tuning_job_id)
    checkpoints = list(reversed(job.checkpoints(now)))
    limit = int_param(request, "limit", 10, 1, 100)
    return page(checkpoints, request.query_params.get("after"), limit)
