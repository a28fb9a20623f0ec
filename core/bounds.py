"""Numeric and date-time bounds of request values (no I/O here): values PostgreSQL, the
provider or a UTC conversion would choke on are refused up front."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from core.json_types import IntegerOnly

# Far beyond any real list, and well inside PostgreSQL's bigint.
MAX_LIST_OFFSET = 2**31 - 1
# The provider's range for a fine-tuning seed (a non-negative 32-bit integer).
MAX_SEED = 2**31 - 1


def check_utc_convertible(value: datetime) -> datetime:
    """A date-time whose UTC equivalent exists (0001-01-01T00:00+14:00 has none)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("date-time is out of range once converted to UTC") from None
    return value


UtcConvertibleDatetime = Annotated[datetime, AfterValidator(check_utc_convertible)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), IntegerOnly]  # no `true` or "7" for a seed
