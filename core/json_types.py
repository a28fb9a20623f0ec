"""Numbers and booleans as JSON Schema types them (no I/O here).

Request bodies are validated after `json.loads`, in pydantic's lax mode, which would take
`true` for a number, `1` or `"yes"` for a boolean and `"3"` for an integer. The published
schema promises a 422 for each of those, so request fields use these types instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Strict
from pydantic_core import PydanticCustomError


def _integer_only(value: Any) -> Any:
    # A float with no fraction (3.0) stays acceptable: JSON Schema counts it as an integer.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JsonFloat = Annotated[float, Strict()]  # an integer is still a number
JsonBool = Annotated[bool, Strict()]
JsonInt = Annotated[int, BeforeValidator(_integer_only)]
