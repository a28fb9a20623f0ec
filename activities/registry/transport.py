"""JSON over HTTP to the Model Registry: bearer auth, status codes mapped to the error
classes of `activities.registry.errors`, one metric per request, and paged lists followed
to the end. The API key never appears in an error message."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from activities.registry.errors import (
    RegistryAlreadyExists,
    RegistryClientError,
    RegistryError,
    RegistryNotFound,
    RegistryUnavailable,
)
from core.metrics import REGISTRY_REQUESTS

logger = logging.getLogger(__name__)

_PAGE_SIZE = 100
_MAX_PAGES = 1000
_RETRYABLE_4XX = frozenset({408, 429})

_T = TypeVar("_T", bound=BaseModel)


def operation_name(method: str, path: str) -> str:
    """`GET /models/{id}/versions`: the path's shape, so the metric's labels stay few."""
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.isdigit():
            parts[i] = "{id}"
        elif i > 0 and parts[i - 1] == "name":
            parts[i] = "{name}"
    return f"{method} /{'/'.join(parts)}"


def parse(kind: type[_T], data: Any) -> _T:
    """`data` as a `kind` record; a payload of another shape is a `RegistryError`."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(
            None,
            f"unexpected {kind.__name__} payload from the registry: {exc.error_count()} "
            "field error(s)",
        ) from exc


class RegistryHttp:
    """One `httpx.AsyncClient` to the registry; `aclose()` it when done."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key or None
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    @property
    def authenticated(self) -> bool:
        return self._api_key is not None

    async def aclose(self) -> None:
        await self._http.aclose()

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        what = f"{method} {path}"
        operation = operation_name(method, path)
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            REGISTRY_REQUESTS.labels(operation, "timeout").inc()
            raise RegistryUnavailable(None, f"{what}: registry timed out") from exc
        except httpx.TransportError as exc:
            REGISTRY_REQUESTS.labels(operation, "connection_error").inc()
            raise RegistryUnavailable(
                None, self._scrub(f"{what}: cannot reach the registry ({type(exc).__name__})")
            ) from exc
        status = response.status_code
        REGISTRY_REQUESTS.labels(operation, str(status)).inc()
        logger.debug("registry %s -> %s", what, status)
        if status >= 400:
            message = self._scrub(_error_message(response))
            if status >= 500 or status in _RETRYABLE_4XX:
                raise RegistryUnavailable(status, message)
            if status == 404:
                raise RegistryNotFound(status, message)
            if status == 400 and "already exists" in message.lower():
                raise RegistryAlreadyExists(status, message)
            raise RegistryClientError(status, message)
        if status >= 300:
            raise RegistryClientError(status, f"{what}: unexpected redirect")
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryUnavailable(status, f"{what}: registry answered with non-JSON") from exc

    async def list_all(self, path: str, key: str, params: dict[str, Any]) -> list[Any]:
        """Every item of a paged list (`{key: [...], "page", "pages", ...}` or a bare list)."""
        items: list[Any] = []
        page = 1
        while page <= _MAX_PAGES:
            data = await self.request(
                "GET", path, params={**params, "page": page, "size": _PAGE_SIZE}
            )
            if isinstance(data, list):
                return data
            chunk = data.get(key) or []
            items.extend(chunk)
            pages = data.get("pages")
            if not chunk or not isinstance(pages, int) or page >= pages:
                break
            page += 1
        return items


def _error_message(response: httpx.Response) -> str:
    """The registry's message: `error` (HTTP errors) or `detail` (validation errors)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                return "; ".join(_describe_field_error(item) for item in value)
    text = response.text.strip()
    return text[:500] if text else (response.reason_phrase or f"HTTP {response.status_code}")


def _describe_field_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    msg = str(item.get("msg", "invalid"))
    return f"{loc}: {msg}" if loc else msg
