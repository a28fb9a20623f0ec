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
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from activities.registry.errors import (
    RegistryAlreadyExists,
    RegistryClientError,
    RegistryError,
    RegistryNotFound,
    RegistryNotVisibleYet,
    RegistryUnavailable,
    RegistryVersionConflict,
)
from activities.registry.records import (
    Binding,
    Model,
    RegistryHealth,
    Version,
    next_version_number,
    normalize_model_name,
    version_hash,
)
from activities.registry.transport import RegistryHttp, parse

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

_R = TypeVar("_R")


async def _create_or_find(
    create: Callable[[], Awaitable[_R]],
    find: Callable[[], Awaitable[_R | None]],
    what: str,
) -> _R:
    """Create a record; when the registry says it already exists (an earlier attempt or a
    concurrent promoter made it), return the existing one instead."""
    try:
        return await create()
    except RegistryAlreadyExists as exc:
        existing = await find()
        if existing is None:
            raise RegistryUnavailable(
                exc.status_code, f"{what} reported as existing but not found"
            ) from exc
        return existing


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
        self.max_version_attempts = max(1, max_version_attempts)
        # A registry that answers 201 before it commits 404s on the id it just returned
        # for a moment: how often, and from what delay (doubling, capped at 1 s), to ask.
        self.visibility_attempts = max(1, visibility_attempts)
        self.visibility_delay = visibility_delay
        self._http = RegistryHttp(self.base_url, api_key, timeout, transport)

    def __repr__(self) -> str:
        auth = "bearer" if self._http.authenticated else "none"
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
        return parse(RegistryHealth, await self._http.request("GET", "/health"))

    # -- models

    async def get_model(self, model_id: int) -> Model:
        return parse(Model, await self._http.request("GET", f"/models/{int(model_id)}"))

    async def get_model_by_name(self, name: str) -> Model | None:
        """The model called `name` (normalized like the registry does), or None on 404."""
        key = normalize_model_name(name)
        try:
            data = await self._http.request("GET", f"/models/name/{quote(key, safe='')}")
        except RegistryNotFound:
            return None
        return parse(Model, data)

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
        return parse(Model, await self._http.request("POST", "/models", json=body))

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

        async def find() -> Model | None:
            return await self.get_model_by_name(name) or await self._find_model_in_list(name)

        return await _create_or_find(
            lambda: self.create_model(name, task, subject, description),
            find,
            f"model {normalize_model_name(name)!r}",
        )

    async def _find_model_in_list(self, name: str) -> Model | None:
        """Exact-name search through `GET /models` (for names `/models/name/{name}` cannot
        route, such as names with a slash)."""
        key = normalize_model_name(name)
        for item in await self._http.list_all("/models", "models", {"name_contains": key}):
            if isinstance(item, dict) and item.get("name") == key:
                return parse(Model, item)
        return None

    # -- versions

    async def get_version(self, version_id: int) -> Version:
        return parse(Version, await self._http.request("GET", f"/versions/{int(version_id)}"))

    async def list_versions(self, model_id: int, include_archived: bool = True) -> list[Version]:
        """Every version of a model (all pages of `GET /models/{id}/versions`)."""
        items = await self._http.list_all(
            f"/models/{int(model_id)}/versions",
            "versions",
            {"include_archived": "true" if include_archived else "false"},
        )
        return [parse(Version, item) for item in items]

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
        return parse(Version, await self._http.request("POST", "/versions", json=body))

    async def ensure_version(
        self,
        model_id: int,
        fine_tuned_model_id: str,
        eval_score: float | None,
        artifact_uri: str | None,
        model_type: str = "fine-tuned-chat",
        framework: str = "openai",
        cost_per_1k: float | None = None,
        *,
        hash: str | None = None,
        size_bytes: int | None = None,
    ) -> Version:
        """The version whose hash is `hash` (default: sha256(fine_tuned_model_id); a
        self-hosted adapter's is its weights' sha256), created with the next free
        `{major}.0` number when missing. Safe to repeat and to race with other promoters.

        `model_id` is one the registry returned (from `ensure_model`): a 404 for it is
        retried as not-yet-visible, not taken as final."""
        digest = (hash or version_hash(fine_tuned_model_id)).lower()
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
                        size_bytes=size_bytes,
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
        return parse(Binding, await self._http.request("GET", f"/bindings/{int(binding_id)}"))

    async def find_binding(self, version_id: int, provider: str) -> Binding | None:
        items = await self._http.list_all(
            "/bindings", "bindings", {"version_id": int(version_id), "provider": provider}
        )
        for item in items:
            binding = parse(Binding, item)
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
        return parse(Binding, await self._http.request("POST", "/bindings", json=body))

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

        async def create() -> Binding:
            return await self._once_visible(
                f"version {int(version_id)}",
                lambda: self.create_binding(
                    version_id, provider, provider_model_id, status, endpoint_url
                ),
            )

        async def find() -> Binding | None:
            existing = await self.find_binding(version_id, provider)
            if existing is not None and existing.provider_model_id != provider_model_id:
                raise RegistryClientError(
                    400,
                    f"version {version_id} is already bound on {provider} to "
                    f"{existing.provider_model_id!r}, not {provider_model_id!r}",
                )
            return existing

        return await _create_or_find(
            create, find, f"binding of version {version_id} for {provider}"
        )
