"""The base-model catalogue served by ``/v1/models``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ORGANIZATION_ID = "org-emulator"
ORGANIZATION_SLUG = "emulator-org"

_STANDARD_SHUTDOWN = "2027-01-14"
LEGACY_MODEL_ID = "legacy-ft-model"
LEGACY_SHUTDOWN_DAYS = 3


@dataclass(frozen=True)
class CatalogueModel:
    id: str
    created: int
    owned_by: str
    fine_tunable: bool
    shutdown_date: str | None = None
    kind: str = "chat"  # chat | embedding | moderation
    alias_of: str | None = None  # dated snapshot this alias resolves to

    @property
    def resolved_id(self) -> str:
        return self.alias_of or self.id


_MODELS: tuple[CatalogueModel, ...] = (
    CatalogueModel("gpt-4o-mini-2024-07-18", 1721172717, "system", True, _STANDARD_SHUTDOWN),
    CatalogueModel(
        "gpt-4o-mini",
        1721172741,
        "system",
        True,
        _STANDARD_SHUTDOWN,
        alias_of="gpt-4o-mini-2024-07-18",
    ),
    CatalogueModel("gpt-4o-2024-08-06", 1722814719, "system", True, _STANDARD_SHUTDOWN),
    CatalogueModel("gpt-4o", 1715367049, "system", False, None),
    CatalogueModel("gpt-4.1-2025-04-14", 1744315746, "system", True, _STANDARD_SHUTDOWN),
    CatalogueModel("gpt-4.1-mini-2025-04-14", 1744317547, "system", True, _STANDARD_SHUTDOWN),
    CatalogueModel("gpt-4.1-nano-2025-04-14", 1744321025, "system", True, None),
    CatalogueModel(
        "gpt-3.5-turbo", 1677610602, "openai", True, None, alias_of="gpt-3.5-turbo-0125"
    ),
    CatalogueModel("gpt-3.5-turbo-0125", 1706048358, "system", True, None),
    CatalogueModel("o4-mini", 1744225351, "system", False, None),
    CatalogueModel("text-embedding-3-small", 1705948997, "system", False, None, kind="embedding"),
    CatalogueModel("omni-moderation-latest", 1731689265, "system", False, None, kind="moderation"),
    CatalogueModel(LEGACY_MODEL_ID, 1700000000, "system", True, None),
)

_BY_ID = {m.id: m for m in _MODELS}


def base_models() -> tuple[CatalogueModel, ...]:
    return _MODELS


def get_base_model(model_id: str) -> CatalogueModel | None:
    return _BY_ID.get(model_id)


def shutdown_date(model: CatalogueModel, now: float) -> str | None:
    """ISO shutdown date; the legacy model always shuts down a few days from `now`."""
    if model.id == LEGACY_MODEL_ID:
        today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        return (today + dt.timedelta(days=LEGACY_SHUTDOWN_DAYS)).isoformat()
    return model.shutdown_date


def model_object(
    model_id: str,
    created: int,
    owned_by: str,
    *,
    fine_tunable: bool,
    shutdown: str | None,
) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "shutdown_date": shutdown,
        "fine_tunable": fine_tunable,
    }


def base_model_object(model: CatalogueModel, now: float) -> dict[str, object]:
    return model_object(
        model.id,
        model.created,
        model.owned_by,
        fine_tunable=model.fine_tunable,
        shutdown=shutdown_date(model, now),
    )
