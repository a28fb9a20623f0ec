"""Numbers and booleans as JSON Schema types them (no I/O here).

Request bodies are validated after `json.loads`, in pydantic's lax mode, which would take
`true` for a number, `1` or `"yes"` for a boolean, `"3"` for an integer and a number (or
text holding one) for a date-time, as seconds since 1970. The published schema promises a 422
for each of those, so request fields use these types instead.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict
from pydantic_core import PydanticCustomError


def _integer_only(value: Any) -> Any:
    # A float with no fraction (3.0) stays acceptable: JSON Schema counts it as an integer.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# The date every ISO 8601 date-time starts with.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_time_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date-time")


# Put on a datetime type (with its own validators): only ISO 8601 text reaches it.
DateTimeText = BeforeValidator(_date_time_text)
JsonFloat = Annotated[float, Strict()]  # an integer is still a number
JsonBool = Annotated[bool, Strict()]
IntegerOnly = BeforeValidator(_integer_only)
JsonInt = Annotated[int, IntegerOnly]
# On an optional field, give the bounds before the check, or the schema loses them:
# `Annotated[int, Field(ge=0), IntegerOnly] | None` rather than `JsonInt | None = Field(ge=0)`.
