"""`/_emulator`: test controls, not part of OpenAI's API (faults are in `emulators.faults`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..errors import invalid_request
from ..settings import EmulatorSettings
from ..state import Emulator
from .deps import EmulatorDep, json_body

router = APIRouter(prefix="/_emulator")


@router.post("/reset")
async def reset(emulator: EmulatorDep) -> dict[str, Any]:
    emulator.reset()
    return {"reset": True}


@router.get("/state")
async def state(emulator: EmulatorDep) -> dict[str, Any]:
    now = emulator.tick()
    return {
        "jobs": [
            {
                "id": job.id,
                "status": job.status(now),
                "metadata": job.metadata,
                "cancel_calls": job.cancel_calls,
                "model": job.model,
                "fine_tuned_model": (
                    job.fine_tuned_model if job.status(now) == "succeeded" else None
                ),
            }
            for job in emulator.list_jobs()
        ],
        "files": len(emulator.files),
        "calls": dict(emulator.calls),
    }


@router.post("/jobs/{job_id}/fail")
async def fail_job(emulator: EmulatorDep, job_id: str, request: Request) -> dict[str, Any]:
    raw = await request.body()
    body = await json_body(request) if raw.strip() else {}
    now = emulator.tick()
    error = {
        "code": str(body.get("code") or "server_error"),
        "message": str(body.get("message") or "The job failed due to an internal error."),
        "param": body.get("param"),
    }
    return emulator.fail_job(job_id, now, error).to_api(now)


@router.post("/clock/advance")
async def advance_clock(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise invalid_request("'seconds' must be a non-negative number.", "seconds")
    emulator.clock_offset += float(seconds)
    return {"offset_seconds": emulator.clock_offset, "now": emulator.tick()}


def _settings_view(emulator: Emulator) -> dict[str, Any]:
    view = emulator.settings.model_dump()
    if view.get("api_key"):
        view["api_key"] = "***"
    return view


@router.get("/settings")
async def get_settings(emulator: EmulatorDep) -> dict[str, Any]:
    return _settings_view(emulator)


@router.patch("/settings")
async def update_settings(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    unknown = set(body) - set(EmulatorSettings.model_fields)
    if unknown:
        raise invalid_request(f"Unknown settings: {sorted(unknown)}")
    try:
        emulator.settings = EmulatorSettings.model_validate(
            {**emulator.settings.model_dump(), **body}
        )
    except ValidationError as exc:
        raise invalid_request(f"Invalid settings: {exc.errors(include_url=False)}") from None
    return _settings_view(emulator)
