"""``/v1/uploads``: OpenAI's multipart Uploads API (create, add parts, complete, cancel).

Parts are held in memory until the upload completes; the assembled bytes then become an
ordinary stored file, so fine-tuning accepts its id like any other upload.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile

from ..errors import APIError, invalid_request, missing_parameter
from ..files import UPLOAD_PURPOSES
from ..text import random_id
from .deps import EmulatorDep

MAX_UPLOAD_BYTES = 8 * 1024**3
MAX_PART_BYTES = 64 * 1024**2
UPLOAD_TTL_SECONDS = 3600


@dataclass
class PendingUpload:
    id: str
    bytes: int
    filename: str
    purpose: str
    mime_type: str
    created_at: int
    expires_at: int
    status: str = "pending"
    parts: dict[str, builtins.bytes] = field(default_factory=dict)
    file: dict[str, object] | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "file": self.file,
        }


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise invalid_request("We could not parse the JSON body of your request.")
    return body


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise missing_parameter(name)
    return value


def pending_uploads(request: Request) -> dict[str, PendingUpload]:
    """The app's uploads not completed yet (kept across `/_emulator/reset`)."""
    uploads: dict[str, PendingUpload] = request.app.state.uploads
    return uploads


UploadsDep = Annotated[dict[str, PendingUpload], Depends(pending_uploads)]

router = APIRouter(prefix="/v1/uploads")


def _pending(uploads: dict[str, PendingUpload], upload_id: str, now: float) -> PendingUpload:
    upload = uploads.get(upload_id)
    if upload is None:
        raise APIError(404, f"No such Upload object: {upload_id}", param="upload_id")
    if upload.status == "pending" and now >= upload.expires_at:
        upload.status = "expired"
        upload.parts.clear()
    if upload.status != "pending":
        raise invalid_request(f"Upload {upload_id} is already {upload.status}.", "upload_id")
    return upload


@router.post("")
async def create_upload(
    emulator: EmulatorDep, uploads: UploadsDep, request: Request
) -> dict[str, Any]:
    body = await _json_object(request)
    now = int(emulator.tick())
    size = _required(body, "bytes")
    if not isinstance(size, int) or not 0 < size <= MAX_UPLOAD_BYTES:
        raise invalid_request(
            f"Invalid 'bytes': expected an integer between 1 and {MAX_UPLOAD_BYTES}.", "bytes"
        )
    purpose = str(_required(body, "purpose"))
    if purpose not in UPLOAD_PURPOSES:
        raise invalid_request(
            f"'{purpose}' is not one of {sorted(UPLOAD_PURPOSES)} - 'purpose'", "purpose"
        )
    upload = PendingUpload(
        id=random_id("upload_", 24),
        bytes=size,
        filename=str(_required(body, "filename")),
        purpose=purpose,
        mime_type=str(_required(body, "mime_type")),
        created_at=now,
        expires_at=now + UPLOAD_TTL_SECONDS,
    )
    uploads[upload.id] = upload
    return upload.to_api()


@router.post("/{upload_id}/parts")
async def add_part(
    emulator: EmulatorDep, uploads: UploadsDep, upload_id: str, request: Request
) -> dict[str, Any]:
    now = int(emulator.tick())
    upload = _pending(uploads, upload_id, now)
    # Parts may be sent as a plain form field: lift Starlette's 1 MB field default.
    form = await request.form(max_part_size=MAX_PART_BYTES + 1024)
    try:
        raw = form.get("data")
        if isinstance(raw, UploadFile):
            data = await raw.read()
        elif isinstance(raw, str):
            data = raw.encode()
        else:
            raise missing_parameter("data")
    finally:
        await form.close()
    if not data:
        raise invalid_request("The part is empty.", "data")
    if len(data) > MAX_PART_BYTES:
        raise invalid_request(f"A part may hold at most {MAX_PART_BYTES} bytes.", "data")
    part_id = random_id("part_", 24)
    upload.parts[part_id] = data
    return {"id": part_id, "object": "upload.part", "created_at": now, "upload_id": upload_id}


@router.post("/{upload_id}/complete")
async def complete_upload(
    emulator: EmulatorDep, uploads: UploadsDep, upload_id: str, request: Request
) -> dict[str, Any]:
    body = await _json_object(request)
    now = int(emulator.tick())
    upload = _pending(uploads, upload_id, now)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not part_ids:
        raise missing_parameter("part_ids")
    unknown = [p for p in part_ids if p not in upload.parts]
    if unknown:
        raise invalid_request(f"Unknown part ids: {unknown}", "part_ids")
    content = b"".join(upload.parts[p] for p in part_ids)
    if len(content) != upload.bytes:
        raise invalid_request(
            f"The upload declared {upload.bytes} bytes but its parts hold {len(content)}.",
            "part_ids",
        )
    md5 = body.get("md5")
    if md5 and hashlib.md5(content).hexdigest() != md5:
        raise invalid_request("The md5 checksum does not match the uploaded bytes.", "md5")
    stored = emulator.files.add(
        filename=upload.filename, purpose=upload.purpose, content=content, created_at=now
    )
    upload.status = "completed"
    upload.parts.clear()
    upload.file = stored.to_api()
    return upload.to_api()


@router.post("/{upload_id}/cancel")
async def cancel_upload(
    emulator: EmulatorDep, uploads: UploadsDep, upload_id: str
) -> dict[str, Any]:
    upload = _pending(uploads, upload_id, int(emulator.tick()))
    upload.status = "cancelled"
    upload.parts.clear()
    return upload.to_api()
