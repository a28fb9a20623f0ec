"""An event a fine-tuning provider reported for a job (the provider seam returns these; the
store records them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ProviderEvent(BaseModel):
    id: str
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None
