"""Request bodies parsed as strict JSON: `NaN`, `Infinity` and numbers too large for a float
(`1e999`) are refused with a 422 naming where they are.

Python's `json` module accepts all three, and a NaN that reaches a comparison silently means
"no limit" (`restrictions.max_cost_usd: NaN`). Every router uses `StrictJSONRoute`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

# Deeper than any body we accept; the free-form fields have tighter bounds of their own.
MAX_BODY_DEPTH = 64


class _NonFinite:
    """Stands in for a non-finite number while the body is parsed, so it can be located."""


_NON_FINITE = _NonFinite()


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _parse_constant(_: str) -> _NonFinite:
    return _NON_FINITE


def _first_problem(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where the first non-finite number or too-deep nesting is (iterative: any depth)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if item is _NON_FINITE:
            return path, "NaN and Infinity are not valid JSON numbers"
        if len(path) > MAX_BODY_DEPTH:
            return path[:MAX_BODY_DEPTH], f"nested deeper than {MAX_BODY_DEPTH} levels"
        if isinstance(item, dict):
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))
    return None


def _wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _refuse(path: tuple[str | int, ...], message: str) -> NoReturn:
    raise RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", *path), "msg": message, "input": None}]
    )


class StrictJSONRequest(Request):
    async def strict_json(self) -> None:
        """Parse the body once, strictly; a body that is not JSON at all is left to
        FastAPI's own parse, which answers it with its usual 422."""
        body = await self.body()
        if not body or not _wants_json(self):
            return
        try:
            parsed = json.loads(body, parse_float=_parse_float, parse_constant=_parse_constant)
        except RecursionError:
            _refuse((), f"nested deeper than {MAX_BODY_DEPTH} levels")
        except ValueError:
            return
        problem = _first_problem(parsed)
        if problem is not None:
            _refuse(*problem)
        self._strict_body = parsed

    async def json(self) -> Any:
        if hasattr(self, "_strict_body"):
            return self._strict_body
        return await super().json()


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            if self.body_field is not None:
                await strict.strict_json()
            return await handler(strict)

        return strict_handler
