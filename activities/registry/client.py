"""Async client of the Model Registry (`shared/contracts/model-registry.md`).

Promotion uses the `ensure_*` methods, each safe to repeat: a retried activity finds what a
previous attempt created instead of creating it twice.

    async with RegistryClient(url, api_key) as registry:
        model = await registry.ensure_model("tenant-a-math-tutor")
        version = await registry.ensure_version(model.id, "ft:gpt-4o-mini:org::abc", 0.91,
                                                "openai://ft:gpt-4o-mini:org::abc")
        binding = await registry.ensure_binding(version.id, "openai", "ft:gpt-4o-mini:org::abc")

Errors: `RegistryUnavailable` (retryable: 5xx, 408/429, timeouts, connection failures),
`RegistryClientError` (not retryable: other 4xx, with the registry's message) and its
subclasses `RegistryNotFound` / `RegistryAlreadyExists`, and `RegistryVersionConflict`
(a retryable `RegistryUnavailable`) when concurrent promoters keep taking the version numbers
picked here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from activities.registry.errors import (
    RegistryAlreadyExists,
    RegistryClientError,
    RegistryError,
    RegistryNotFound,
    RegistryNotVisibleYet,
    RegistryUnavailable,
    RegistryVersionConflict,
)
from core.metrics import REGISTRY_REQUESTS

__all__ = [
    "Binding",
    "Model",
    "RegistryAlreadyExists",
    "RegistryClient",
    "RegistryClientError",
    "RegistryError",
    "RegistryHealth",
    "RegistryNotFound",
    "RegistryNotVisibleYet",
    "RegistryUnavailable",
    "RegistryVersionConflict",
    "Version",
    "normalize_model_name",
    "version_hash",
]

logger = logging.getLogger(__name__)

_PAGE_SIZE = 100
_MAX_PAGES = 1000
_RETRYABLE_4XX = frozenset({408, 429})

_T = TypeVar("_T", bound=BaseModel)
_R = TypeVar("_R")


# ------------------------------------------------------------------------------- the types


class _RegistryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Model(_RegistryRecord):
    id: int
    name: str
    task: str | None = None
    subject: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version_count: int = 0
    active_version_count: int = 0


class Version(_RegistryRecord):
    id: int
    model_id: int
    hash: str
    version: str
    region: str | None = None
    cost_per_1k: float | None = None
    eval_score: float | None = None
    slo_ok: bool | None = None
    artifact_uri: str | None = None
    archive_uri: str | None = None
    size_bytes: int | None = None
    model_type: str | None = None
    framework: str | None = None
    created_at: datetime | None = None
    archived_at: datetime | None = None
    model_name: str | None = None
    provider_binding_count: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Binding(_RegistryRecord):
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str | None = None
    config: Any = None
    endpoint_url: str | None = None
    avg_latency_ms: float | None = None
    success_rate: float | None = None
    last_used_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    model_name: str | None = None
    version: str | None = None


class RegistryHealth(_RegistryRecord):
    status: str
    timestamp: datetime | None = None
    version: str | None = None
    database_connected: bool | None = None
    model_count: int | None = None
    version_count: int | None = None


# ------------------------------------------------------------------------------- helpers


def normalize_model_name(name: str) -> str:
    """The registry stores names stripped and lower-cased; look them up the same way."""
    return name.strip().lower()


def version_hash(fine_tuned_model_id: str) -> str:
    """The version hash promotion uses: sha256 of the fine-tuned model id, 64 hex chars."""
    return hashlib.sha256(fine_tuned_model_id.encode("utf-8")).hexdigest()


def operation_name(method: str, path: str) -> str:
    """`GET /models/{id}/versions`: the path's shape, so the metric's labels stay few."""
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.isdigit():
            parts[i] = "{id}"
        elif i > 0 and parts[i - 1] == "name":
            parts[i] = "{name}"
    return f"{method} /{'/'.join(parts)}"


def _major(version: str) -> int | None:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def next_version_number(versions: list[Version], *, above: str | None = None) -> str:
    """`{max major + 1}.0`, also above `above` (a number found taken by someone else)."""
    majors = [m for m in (_major(v.version) for v in versions) if m is not None]
    if above is not None and (taken := _major(above)) is not None:
        majors.append(taken)
    return f"{max(majors, default=0) + 1}.0"


# -------------------------------------------------------------------------------- client


class RegistryClient:
    """Async Model Registry client over `httpx.AsyncClient`. Use as an async context manager
    (or call `aclose()`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_version_attempts: int = 5,
        visibility_attempts: int = 6,
        visibility_delay: float = 0.05,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self.max_version_attempts = max(1, max_version_attempts)
        # A registry that answers 201 before it commits 404s on the id it just returned
        # for a moment: how often, and from what delay (doubling, capped at 1 s), to ask.
        self.visibility_attempts = max(1, visibility_attempts)
        self.visibility_delay = visibility_delay
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        auth = "bearer" if self._api_key else "none"
        return f"RegistryClient(base_url={self.base_url!r}, auth={auth})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    async def _request(
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

    @staticmethod
    def _parse(kind: type[_T], data: Any) -> _T:
        try:
            return kind.model_validate(data)
        except ValidationError as exc:
            raise RegistryError(
                None,
                f"unexpected {kind.__name__} payload from the registry: {exc.error_count()} "
                "field error(s)",
            ) from exc

    async def _list_all(self, path: str, key: str, params: dict[str, Any]) -> list[Any]:
        """Every item of a paged list (`{key: [...], "page", "pages", ...}` or a bare list)."""
        items: list[Any] = []
        page = 1
        while page <= _MAX_PAGES:
            data = await self._request(
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

    async def _once_visible(self, what: str, call: Callable[[], Awaitable[_R]]) -> _R:
        """Run `call`, which refers to `what`, an id the registry itself returned. A 404 then
        means "not committed yet", not "gone": ask again with a short backoff, and in the end
        raise the retryable `RegistryNotVisibleYet`, never the final `RegistryNotFound`."""
        delay = self.visibility_delay
        for attempt in range(1, self.visibility_attempts + 1):
            try:
                return await call()
            except RegistryNotFound as exc:
                if attempt == self.visibility_attempts:
                    raise RegistryNotVisibleYet(
                        exc.status_code, f"{what} is not visible in the registry yet"
                    ) from exc
                logger.info("registry %s not visible yet (attempt %d)", what, attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    # -- health

    async def health(self) -> RegistryHealth:
        return self._parse(RegistryHealth, await self._request("GET", "/health"))

    # -- models

    async def get_model(self, model_id: int) -> Model:
        return self._parse(Model, await self._request("GET", f"/models/{int(model_id)}"))

    async def get_model_by_name(self, name: str) -> Model | None:
        """The model called `name` (normalized like the registry does), or None on 404."""
        key = normalize_model_name(name)
        try:
            data = await self._request("GET", f"/models/name/{quote(key, safe='')}")
        except RegistryNotFound:
            return None
        return self._parse(Model, data)

    async def create_model(
        self,
        name: str,
        task: str = "generation",
        subject: str | None = None,
        description: str | None = None,
    ) -> Model:
        body: dict[str, Any] = {"name": normalize_model_name(name), "task": task}
        if subject is not None:
            body["subject"] = subject
        if description is not None:
            body["description"] = description
        return self._parse(Model, await self._request("POST", "/models", json=body))

    async def ensure_model(
        self,
        name: str,
        task: str = "generation",
        subject: str | None = None,
        description: str | None = None,
    ) -> Model:
        """Find the model by name or create it; a concurrent creator's model is returned."""
        existing = await self.get_model_by_name(name)
        if existing is not None:
            return existing
        try:
            return await self.create_model(name, task, subject, description)
        except RegistryAlreadyExists as exc:
            existing = await self.get_model_by_name(name) or await self._find_model_in_list(name)
            if existing is None:
                raise RegistryUnavailable(
                    exc.status_code,
                    f"model {normalize_model_name(name)!r} reported as existing but not found",
                ) from exc
            return existing

    async def _find_model_in_list(self, name: str) -> Model | None:
        """Exact-name search through `GET /models` (for names `/models/name/{name}` cannot
        route, such as names with a slash)."""
        key = normalize_model_name(name)
        for item in await self._list_all("/models", "models", {"name_contains": key}):
            if isinstance(item, dict) and item.get("name") == key:
                return self._parse(Model, item)
        return None

    # -- versions

    async def get_version(self, version_id: int) -> Version:
        return self._parse(Version, await self._request("GET", f"/versions/{int(version_id)}"))

    async def list_versions(self, model_id: int, include_archived: bool = True) -> list[Version]:
        """Every version of a model (all pages of `GET /models/{id}/versions`)."""
        items = await self._list_all(
            f"/models/{int(model_id)}/versions",
            "versions",
            {"include_archived": "true" if include_archived else "false"},
        )
        return [self._parse(Version, item) for item in items]

    async def find_version_by_hash(self, model_id: int, hash: str) -> Version | None:
        wanted = hash.lower()
        for version in await self.list_versions(model_id, include_archived=True):
            if version.hash.lower() == wanted:
                return version
        return None

    async def create_version(
        self,
        model_id: int,
        hash: str,
        version: str,
        *,
        eval_score: float | None = None,
        artifact_uri: str | None = None,
        model_type: str | None = None,
        framework: str | None = None,
        cost_per_1k: float | None = None,
        region: str | None = None,
        slo_ok: bool | None = None,
        size_bytes: int | None = None,
    ) -> Version:
        body: dict[str, Any] = {"model_id": int(model_id), "hash": hash, "version": version}
        optional = {
            "eval_score": eval_score,
            "artifact_uri": artifact_uri,
            "model_type": model_type,
            "framework": framework,
            "cost_per_1k": cost_per_1k,
            "region": region,
            "slo_ok": slo_ok,
            "size_bytes": size_bytes,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._parse(Version, await self._request("POST", "/versions", json=body))

    async def ensure_version(
        self,
        model_id: int,
        fine_tuned_model_id: str,
        eval_score: float | None,
        artifact_uri: str | None,
        model_type: str = "fine-tuned-chat",
        framework: str = "openai",
        cost_per_1k: float | None = None,
    ) -> Version:
        """The version whose hash is sha256(fine_tuned_model_id), created with the next free
        `{major}.0` number when missing. Safe to repeat and to race with other promoters.

        `model_id` is one the registry returned (from `ensure_model`): a 404 for it is
        retried as not-yet-visible, not taken as final."""
        digest = version_hash(fine_tuned_model_id)
        taken: str | None = None
        model_ref = f"model {int(model_id)}"
        for _ in range(self.max_version_attempts):
            versions = await self._once_visible(
                model_ref, lambda: self.list_versions(model_id, include_archived=True)
            )
            for existing in versions:
                if existing.hash.lower() == digest:
                    return existing
            number = next_version_number(versions, above=taken)
            try:
                return await self._once_visible(
                    model_ref,
                    functools.partial(
                        self.create_version,
                        model_id,
                        digest,
                        number,
                        eval_score=eval_score,
                        artifact_uri=artifact_uri,
                        model_type=model_type,
                        framework=framework,
                        cost_per_1k=cost_per_1k,
                    ),
                )
            except RegistryAlreadyExists:
                # Either an earlier attempt created our hash (found on the next read) or a
                # concurrent promoter took this number (pick one above it).
                logger.info("registry version %s of model %s already exists", number, model_id)
                taken = number
        found = await self.find_version_by_hash(model_id, digest)
        if found is not None:
            return found
        raise RegistryVersionConflict(
            400,
            f"could not allocate a version number for model {model_id} after "
            f"{self.max_version_attempts} attempts",
        )

    # -- bindings

    async def get_binding(self, binding_id: int) -> Binding:
        return self._parse(Binding, await self._request("GET", f"/bindings/{int(binding_id)}"))

    async def find_binding(self, version_id: int, provider: str) -> Binding | None:
        items = await self._list_all(
            "/bindings", "bindings", {"version_id": int(version_id), "provider": provider}
        )
        for item in items:
            binding = self._parse(Binding, item)
            if binding.version_id == int(version_id) and binding.provider == provider:
                return binding
        return None

    async def create_binding(
        self,
        version_id: int,
        provider: str,
        provider_model_id: str,
        status: str = "active",
        endpoint_url: str | None = None,
    ) -> Binding:
        body: dict[str, Any] = {
            "version_id": int(version_id),
            "provider": provider,
            "provider_model_id": provider_model_id,
            "status": status,
        }
        if endpoint_url is not None:
            body["endpoint_url"] = endpoint_url
        return self._parse(Binding, await self._request("POST", "/bindings", json=body))

    async def ensure_binding(
        self,
        version_id: int,
        provider: str,
        provider_model_id: str,
        status: str = "active",
        endpoint_url: str | None = None,
    ) -> Binding:
        """Create the version's binding for `provider`, or return the one already there.

        An existing binding that points at a different provider model is a conflict a person
        has to resolve: `RegistryClientError`. `version_id` is one the registry returned: a
        404 for it is retried as not-yet-visible."""
        try:
            return await self._once_visible(
                f"version {int(version_id)}",
                lambda: self.create_binding(
                    version_id, provider, provider_model_id, status, endpoint_url
                ),
            )
        except RegistryAlreadyExists as exc:
            existing = await self.find_binding(version_id, provider)
            if existing is None:
                raise RegistryUnavailable(
                    exc.status_code,
                    f"binding of version {version_id} for {provider} reported as existing "
                    "but not found",
                ) from exc
            if existing.provider_model_id != provider_model_id:
                raise RegistryClientError(
                    400,
                    f"version {version_id} is already bound on {provider} to "
                    f"{existing.provider_model_id!r}, not {provider_model_id!r}",
                ) from exc
            return existing


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
