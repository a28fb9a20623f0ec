"""`/v1/moderations`: classify text (or content parts) against the moderation categories."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..errors import APIError, invalid_request, missing_parameter
from ..moderation import moderation_response
from ..text import content_text
from .deps import EmulatorDep, json_body

router = APIRouter(prefix="/v1/moderations")

MODERATION_MODELS = frozenset(
    {
        "omni-moderation-latest",
        "omni-moderation-2024-09-26",
        "text-moderation-latest",
        "text-moderation-stable",
    }
)


@router.post("")
async def moderate(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    emulator.tick()
    if "input" not in body:
        raise missing_parameter("input")
    model = body.get("model")
    if model is not None and model not in MODERATION_MODELS:
        raise APIError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return moderation_response(_inputs(body["input"]))


def _inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return list(raw)
    if isinstance(raw, list) and all(isinstance(item, dict) for item in raw):
        # Multi-modal parts are classified together as one input.
        return [content_text(raw)]
    raise invalid_request(
        "Invalid 'input': expected a string, an array of strings or content parts.", "input"
    )
