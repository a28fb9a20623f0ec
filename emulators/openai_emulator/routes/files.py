"""`/v1/files`: upload, list, retrieve, delete and download files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from ..errors import invalid_request, missing_parameter
from ..files import UPLOAD_PURPOSES, StoredFile
from ..state import Emulator
from .deps import EmulatorDep, int_param, page

router = APIRouter(prefix="/v1/files")


@router.post("")
async def create_file(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    now = emulator.tick()
    try:
        form = await request.form()
    except Exception:
        raise invalid_request("Expected a multipart/form-data body.") from None
    try:
        stored = await _store_upload(emulator, form, now)
    finally:
        await form.close()
    return stored.to_api()


async def _store_upload(emulator: Emulator, form: FormData, now: float) -> StoredFile:
    upload = form.get("file")
    purpose = form.get("purpose")
    if not isinstance(upload, UploadFile):
        raise missing_parameter("file")
    if not isinstance(purpose, str) or not purpose:
        raise missing_parameter("purpose")
    if purpose not in UPLOAD_PURPOSES:
        raise invalid_request(
            f"'{purpose}' is not one of {sorted(UPLOAD_PURPOSES)} - 'purpose'", "purpose"
        )
    content = await upload.read()
    if not content:
        raise invalid_request("The uploaded file is empty.", "file")
    expires_at = None
    seconds = form.get("expires_after[seconds]")
    if isinstance(seconds, str) and seconds:
        try:
            expires_at = int(now) + int(seconds)
        except ValueError:
            raise invalid_request(
                "Invalid value for 'expires_after.seconds'.", "expires_after.seconds"
            ) from None
    return emulator.files.add(
        filename=upload.filename or "file",
        purpose=purpose,
        content=content,
        created_at=int(now),
        expires_at=expires_at,
    )


@router.get("")
async def list_files(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    emulator.tick()
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_request("Invalid value for 'order': expected 'asc' or 'desc'.", "order")
    items = emulator.files.list(purpose=request.query_params.get("purpose"), order=order)
    limit = int_param(request, "limit", 10000, 1, 10000)
    return page([f.to_api() for f in items], request.query_params.get("after"), limit)


@router.get("/{file_id}")
async def retrieve_file(emulator: EmulatorDep, file_id: str) -> dict[str, Any]:
    emulator.tick()
    return emulator.files.get(file_id).to_api()


@router.delete("/{file_id}")
async def delete_file(emulator: EmulatorDep, file_id: str) -> dict[str, Any]:
    emulator.tick()
    stored = emulator.files.delete(file_id)
    return {"id": stored.id, "object": "file", "deleted": True}


@router.get("/{file_id}/content")
async def file_content(emulator: EmulatorDep, file_id: str) -> Response:
    emulator.tick()
    stored = emulator.files.get(file_id)
    return Response(content=stored.content, media_type="application/octet-stream")
