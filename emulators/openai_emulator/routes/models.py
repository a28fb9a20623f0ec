"""`/v1/models`: the base catalogue plus the fine-tuned models jobs produced."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .deps import EmulatorDep

router = APIRouter(prefix="/v1/models")


@router.get("")
async def list_models(emulator: EmulatorDep) -> dict[str, Any]:
    now = emulator.tick()
    return {"object": "list", "data": emulator.list_models(now)}


@router.get("/{model}")
async def retrieve_model(emulator: EmulatorDep, model: str) -> dict[str, Any]:
    now = emulator.tick()
    return emulator.model_object(model, now)


@router.delete("/{model}")
async def delete_model(emulator: EmulatorDep, model: str) -> dict[str, Any]:
    now = emulator.tick()
    return emulator.delete_model(model, now)
