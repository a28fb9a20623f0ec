"""In-memory emulator of the Model Registry HTTP API.

Behaves as `shared/contracts/model-registry.md` describes, errors included:
`{"error", "status_code", "timestamp"}` for HTTP errors, FastAPI's 422 `{"detail": [...]}`
for invalid requests, 400 "... already exists" on duplicates and 404 "Model not found" /
"Model version not found" / "Provider binding not found".

Besides the contract it serves test controls under `/_emulator` (never authenticated, never
counted, never faulted):

- `POST /_emulator/faults` `{"path_prefix", "method", "status", "count", "delay_seconds"}`:
  the next `count` (null: every) calls whose path starts with `path_prefix` (and whose method
  is `method`, null: any) wait `delay_seconds` and answer `status` (4xx/5xx) in the error
  shape.
  `"status": 0` means "down": every call, whatever its path or method, answers 503 with
  `Connection: close` until the fault is used up or cleared.
- `DELETE /_emulator/faults`: clear all faults.
- `POST /_emulator/hold` `{"path_prefix", "method", "seconds", "count"}`: the next `count`
  (default 1) matching calls hang for `seconds` before anything else happens (auth, faults,
  the handler). A held call whose client disconnects is dropped without touching the state;
  otherwise it proceeds once the time is up or the hold is released.
- `DELETE /_emulator/hold`: forget pending holds and release the calls held right now.
- `PUT /_emulator/consistency` `{"visible_after_reads", "visible_after_seconds",
  "stall_seconds"}`: answer creates before "committing" them, and stall a create that
  collides with an uncommitted record (see `consistency.py`); `DELETE` clears the mode.
- `POST /_emulator/reset`: empty the registry (ids restart at 1), clear faults, holds and
  call counts.
- `GET /_emulator/state`: counts of models/versions/bindings, per-route call counts
  (`"POST /versions": 2`), active faults and holds, calls held now and calls dropped.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Send

from emulators.registry_emulator.consistency import (
    ConsistencySpec,
    DuplicateWhileUncommitted,
    Visibility,
)
from emulators.registry_emulator.settings import RegistryEmulatorSettings

Task = Literal[
    "generation", "embedding", "moderation", "classification", "summarization", "translation"
]
Provider = Literal["openai", "vertex", "bedrock", "anthropic", "azure"]
BindingStatus = Literal["active", "inactive", "deprecated", "failed"]

ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=255)
]
HexHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
VersionNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")]

PageNumber = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=100)]

ADMIN_PREFIX = "/_emulator"


def _now() -> datetime:
    return datetime.now(UTC)


def error_body(status_code: int, message: str) -> dict[str, Any]:
    timestamp = _now().isoformat().replace("+00:00", "Z")
    return {"error": message, "status_code": status_code, "timestamp": timestamp}


def error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status_code, message), status_code=status_code, headers=headers)


# --------------------------------------------------------------------------- request bodies


class _Body(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class ModelCreate(_Body):
    name: ModelName
    task: Task
    subject: str | None = None
    description: str | None = None


class VersionCreate(_Body):
    model_id: int
    hash: HexHash
    version: VersionNumber
    region: str = "us-east-1"
    cost_per_1k: float | None = Field(default=None, ge=0)
    eval_score: float | None = Field(default=None, ge=0, le=1)
    slo_ok: bool = True
    artifact_uri: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    model_type: str | None = None
    framework: str | None = None


class VersionUpdate(_Body):
    cost_per_1k: float | None = Field(default=None, ge=0)
    eval_score: float | None = Field(default=None, ge=0, le=1)
    slo_ok: bool | None = None


class BindingCreate(_Body):
    version_id: int
    provider: Provider
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    status: BindingStatus = "active"
    endpoint_url: str | None = None


class BindingUpdate(_Body):
    status: BindingStatus | None = None
    endpoint_url: str | None = None
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    avg_latency_ms: float | None = Field(default=None, ge=0)
    success_rate: float | None = Field(default=None, ge=0, le=1)
    last_used_at: datetime | None = None


# -------------------------------------------------------------------------------- responses


class ModelOut(_Body):
    id: int
    name: str
    task: str
    subject: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    version_count: int
    active_version_count: int


class VersionOut(_Body):
    id: int
    model_id: int
    hash: str
    version: str
    region: str
    cost_per_1k: float | None
    eval_score: float | None
    slo_ok: bool
    artifact_uri: str | None
    archive_uri: str | None
    size_bytes: int | None
    model_type: str | None
    framework: str | None
    created_at: datetime
    archived_at: datetime | None
    model_name: str | None
    provider_binding_count: int


class BindingOut(_Body):
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str
    config: dict[str, Any] | None
    endpoint_url: str | None
    avg_latency_ms: float | None
    success_rate: float | None
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime
    model_name: str | None
    version: str | None


class _Page(_Body):
    total: int
    page: int
    size: int
    pages: int


class ModelList(_Page):
    models: list[ModelOut]


class VersionList(_Page):
    versions: list[VersionOut]


class BindingList(_Page):
    bindings: list[BindingOut]


class HealthOut(_Body):
    status: str
    timestamp: datetime
    version: str
    database_connected: bool
    model_count: int
    version_count: int


# ----------------------------------------------------------------------------- admin bodies


class FaultSpec(_Body):
    path_prefix: str = "/"
    method: str | None = None
    status: int = Field(default=503, description="0 (down) or an HTTP 4xx/5xx status")
    count: int | None = Field(default=None, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0)


class HoldSpec(_Body):
    path_prefix: str = "/"
    method: str | None = None
    seconds: float = Field(default=30.0, gt=0)
    count: int = Field(default=1, ge=1)


# ----------------------------------------------------------------------------------- state


@dataclass
class _Model:
    id: int
    name: str
    task: str
    subject: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class _Version:
    id: int
    model_id: int
    hash: str
    version: str
    region: str
    cost_per_1k: float | None
    eval_score: float | None
    slo_ok: bool
    artifact_uri: str | None
    size_bytes: int | None
    model_type: str | None
    framework: str | None
    created_at: datetime
    archive_uri: str | None = None
    archived_at: datetime | None = None


@dataclass
class _Binding:
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str
    endpoint_url: str | None
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any] | None = None
    avg_latency_ms: float | None = None
    success_rate: float | None = None
    last_used_at: datetime | None = None


class RegistryStore:
    """The registry's data. Handlers never await while mutating it, so no lock is needed."""

    def __init__(self, settings: RegistryEmulatorSettings) -> None:
        self.settings = settings
        self.visibility = Visibility(
            ConsistencySpec(
                visible_after_reads=settings.visible_after_reads,
                visible_after_seconds=settings.visible_after_seconds,
                stall_seconds=settings.stall_seconds,
            )
        )
        self.reset()

    def reset(self) -> None:
        self.visibility.reset()
        self.models: dict[int, _Model] = {}
        self.versions: dict[int, _Version] = {}
        self.bindings: dict[int, _Binding] = {}
        self._ids: Counter[str] = Counter()

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # -- lookups

    def model(self, model_id: int) -> _Model:
        found = self.models.get(model_id)
        if found is None or not self.visibility.visible("model", model_id):
            raise HTTPException(404, "Model not found")
        return found

    def version(self, version_id: int) -> _Version:
        found = self.versions.get(version_id)
        if found is None or not self.visibility.visible("version", version_id):
            raise HTTPException(404, "Model version not found")
        return found

    def binding(self, binding_id: int) -> _Binding:
        found = self.bindings.get(binding_id)
        if found is None or not self.visibility.visible("binding", binding_id):
            raise HTTPException(404, "Provider binding not found")
        return found

    def versions_of(self, model_id: int) -> list[_Version]:
        return [v for v in self.versions.values() if v.model_id == model_id]

    def seen(self, kind: str, records: Sequence[Any]) -> list[Any]:
        """The records a lookup finds (each one not committed yet counts a read)."""
        return [r for r in records if self.visibility.visible(kind, r.id)]

    def _duplicate(self, kind: str, record: Any, message: str) -> HTTPException:
        """400 "already exists", or a stall when the duplicate is not committed yet."""
        if self.visibility.is_pending(kind, record.id):
            raise DuplicateWhileUncommitted(message)
        return HTTPException(400, message)

    # -- projections

    def model_out(self, m: _Model) -> ModelOut:
        versions = self.versions_of(m.id)
        return ModelOut(
            id=m.id,
            name=m.name,
            task=m.task,
            subject=m.subject,
            description=m.description,
            created_at=m.created_at,
            updated_at=m.updated_at,
            version_count=len(versions),
            active_version_count=sum(1 for v in versions if v.archived_at is None),
        )

    def version_out(self, v: _Version) -> VersionOut:
        model = self.models.get(v.model_id)
        return VersionOut(
            id=v.id,
            model_id=v.model_id,
            hash=v.hash,
            version=v.version,
            region=v.region,
            cost_per_1k=v.cost_per_1k,
            eval_score=v.eval_score,
            slo_ok=v.slo_ok,
            artifact_uri=v.artifact_uri,
            archive_uri=v.archive_uri,
            size_bytes=v.size_bytes,
            model_type=v.model_type,
            framework=v.framework,
            created_at=v.created_at,
            archived_at=v.archived_at,
            model_name=model.name if model else None,
            provider_binding_count=sum(1 for b in self.bindings.values() if b.version_id == v.id),
        )

    def binding_out(self, b: _Binding) -> BindingOut:
        version = self.versions.get(b.version_id)
        model = self.models.get(version.model_id) if version else None
        return BindingOut(
            id=b.id,
            version_id=b.version_id,
            provider=b.provider,
            provider_model_id=b.provider_model_id,
            status=b.status,
            config=b.config,
            endpoint_url=b.endpoint_url,
            avg_latency_ms=b.avg_latency_ms,
            success_rate=b.success_rate,
            last_used_at=b.last_used_at,
            created_at=b.created_at,
            updated_at=b.updated_at,
            model_name=model.name if model else None,
            version=version.version if version else None,
        )

    # -- mutations

    def create_model(self, body: ModelCreate) -> _Model:
        for m in self.models.values():
            if m.name == body.name:
                raise self._duplicate("model", m, f"Model with name '{body.name}' already exists")
        now = _now()
        model = _Model(
            id=self.next_id("model"),
            name=body.name,
            task=body.task,
            subject=body.subject,
            description=body.description,
            created_at=now,
            updated_at=now,
        )
        self.models[model.id] = model
        self.visibility.track("model", model.id)
        return model

    def create_version(self, body: VersionCreate) -> _Version:
        model = self.model(body.model_id)
        siblings = self.versions_of(model.id)
        for v in siblings:
            if v.hash == body.hash:
                raise self._duplicate(
                    "version",
                    v,
                    f"Version with hash {body.hash} already exists for model {model.id}",
                )
        for v in siblings:
            if v.version == body.version:
                raise self._duplicate(
                    "version", v, f"Version {body.version} already exists for model {model.id}"
                )
        now = _now()
        version = _Version(
            id=self.next_id("version"),
            created_at=now,
            **body.model_dump(),
        )
        self.versions[version.id] = version
        self.visibility.track("version", version.id)
        model.updated_at = now
        self._archive_old_versions(model, now)
        return version

    def _archive_old_versions(self, model: _Model, now: datetime) -> None:
        keep = self.settings.keep_active_versions
        candidates = sorted(
            (v for v in self.versions_of(model.id) if v.archived_at is None and v.artifact_uri),
            key=lambda v: (v.created_at, v.id),
            reverse=True,
        )
        prefix = self.settings.archive_uri_prefix.rstrip("/")
        for v in candidates[keep:]:
            v.archived_at = now
            v.archive_uri = f"{prefix}/{model.name}/{v.version}"

    def create_binding(self, body: BindingCreate) -> _Binding:
        version = self.version(body.version_id)
        for b in self.bindings.values():
            if b.version_id == version.id and b.provider == body.provider:
                raise self._duplicate(
                    "binding",
                    b,
                    f"Provider binding for provider '{body.provider}' already exists "
                    f"for version {version.id}",
                )
        now = _now()
        binding = _Binding(
            id=self.next_id("binding"),
            version_id=version.id,
            provider=body.provider,
            provider_model_id=body.provider_model_id,
            status=body.status,
            endpoint_url=body.endpoint_url,
            created_at=now,
            updated_at=now,
        )
        self.bindings[binding.id] = binding
        self.visibility.track("binding", binding.id)
        return binding


def _paginate(items: Sequence[Any], page: int, size: int) -> tuple[list[Any], dict[str, int]]:
    total = len(items)
    start = (page - 1) * size
    meta = {"total": total, "page": page, "size": size, "pages": math.ceil(total / size)}
    return list(items[start : start + size]), meta


# --------------------------------------------------------------------- faults, holds, calls


@dataclass
class _Fault:
    path_prefix: str
    method: str | None
    status: int
    remaining: int | None
    delay_seconds: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.status == 0:
            return True
        return path.startswith(self.path_prefix) and self.method in (None, method)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path_prefix": self.path_prefix,
            "method": self.method,
            "status": self.status,
            "remaining": self.remaining,
            "delay_seconds": self.delay_seconds,
            "hits": self.hits,
        }


@dataclass
class _Hold:
    path_prefix: str
    method: str | None
    seconds: float
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and self.method in (None, method)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path_prefix": self.path_prefix,
            "method": self.method,
            "seconds": self.seconds,
            "remaining": self.remaining,
        }


@dataclass
class EmulatorControl:
    faults: list[_Fault] = field(default_factory=list)
    holds: list[_Hold] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    held_now: int = 0
    dropped_calls: int = 0
    _release: asyncio.Event | None = None

    def reset(self) -> None:
        self.faults.clear()
        self.release_holds()
        self.calls.clear()
        self.dropped_calls = 0

    def take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def take_hold(self, method: str, path: str) -> _Hold | None:
        for hold in self.holds:
            if hold.matches(method, path):
                hold.remaining -= 1
                if hold.remaining <= 0:
                    self.holds.remove(hold)
                return hold
        return None

    def release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def release_holds(self) -> None:
        self.holds.clear()
        if self._release is not None:
            self._release.set()
            self._release = None


class _ControlMiddleware:
    """Counts calls and applies holds, faults and the API key before the registry routes."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        control: EmulatorControl,
        settings: RegistryEmulatorSettings,
        routes: Callable[[], Sequence[BaseRoute]],
    ) -> None:
        self.app = app
        self.control = control
        self.settings = settings
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        self.control.calls[f"{method} {self._route_of(scope)}"] += 1

        hold = self.control.take_hold(method, path)
        if hold is not None:
            buffered, disconnected = await _read_body(receive)
            if not disconnected:
                disconnected = await self._wait_hold(hold, receive)
            if disconnected:
                self.control.dropped_calls += 1
                return
            receive = _replay(buffered, receive)

        fault = self.control.take_fault(method, path)
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status == 0:
                response = error_response(
                    503, "Model Registry is unavailable", headers={"Connection": "close"}
                )
            else:
                response = error_response(fault.status, "Injected fault")
            await response(scope, receive, send)
            return

        if self.settings.api_key and path != "/health":
            headers = dict(scope.get("headers") or [])
            supplied = headers.get(b"authorization", b"").decode("latin-1")
            if supplied != f"Bearer {self.settings.api_key}":
                response = error_response(
                    401, "Invalid or missing API key", headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return

        await self.app(scope, receive, send)

    def _route_of(self, scope: dict[str, Any]) -> str:
        partial = None
        for route in self.routes():
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", scope["path"])
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        return partial or scope["path"]

    async def _wait_hold(self, hold: _Hold, receive: Receive) -> bool:
        """Wait out a hold; True when the client went away meanwhile."""
        self.control.held_now += 1
        release = asyncio.ensure_future(self.control.release_event().wait())
        gone = asyncio.ensure_future(receive())
        try:
            await asyncio.wait(
                {release, gone}, timeout=hold.seconds, return_when=asyncio.FIRST_COMPLETED
            )
            return gone.done() and gone.result().get("type") == "http.disconnect"
        finally:
            self.control.held_now -= 1
            for task in (release, gone):
                task.cancel()


async def _read_body(receive: Receive) -> tuple[list[Message], bool]:
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return messages, True
        messages.append(message)
        if not message.get("more_body", False):
            return messages, False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


# --------------------------------------------------------------------------------- the app


def create_app(settings: RegistryEmulatorSettings | None = None) -> FastAPI:
    settings = settings or RegistryEmulatorSettings()
    store = RegistryStore(settings)
    control = EmulatorControl()

    app = FastAPI(
        title="Model Registry (emulator)",
        version=settings.service_version,
        description="In-memory stand-in for the Model Registry used in development and tests.",
    )
    app.state.store = store
    app.state.control = control
    app.state.settings = settings
    app.add_middleware(
        _ControlMiddleware, control=control, settings=settings, routes=lambda: app.router.routes
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "Internal server error")

    # -- health

    @app.get("/health", response_model=HealthOut)
    async def health() -> HealthOut:
        return HealthOut(
            status="healthy",
            timestamp=_now(),
            version=settings.service_version,
            database_connected=True,
            model_count=len(store.models),
            version_count=len(store.versions),
        )

    # -- models

    async def stall_then_refuse(request: Request, err: DuplicateWhileUncommitted) -> None:
        await store.visibility.stall(request)
        raise HTTPException(400, err.message)

    @app.post("/models", status_code=201, response_model=ModelOut)
    async def create_model(body: ModelCreate, request: Request) -> ModelOut:
        try:
            return store.model_out(store.create_model(body))
        except DuplicateWhileUncommitted as err:
            await stall_then_refuse(request, err)
            raise

    @app.get("/models", response_model=ModelList)
    async def list_models(
        task: Task | None = None,
        subject: str | None = None,
        name_contains: str | None = None,
        page: PageNumber = 1,
        size: PageSize = 20,
    ) -> ModelList:
        items = [
            m
            for m in store.seen("model", sorted(store.models.values(), key=lambda m: m.id))
            if (task is None or m.task == task)
            and (subject is None or m.subject == subject)
            and (name_contains is None or name_contains.lower() in m.name)
        ]
        chunk, meta = _paginate(items, page, size)
        return ModelList(models=[store.model_out(m) for m in chunk], **meta)

    @app.get("/models/name/{name}", response_model=ModelOut)
    async def get_model_by_name(name: str) -> ModelOut:
        for m in store.models.values():
            if m.name == name and store.visibility.visible("model", m.id):
                return store.model_out(m)
        raise HTTPException(404, "Model not found")

    @app.get("/models/{model_id}", response_model=ModelOut)
    async def get_model(model_id: int) -> ModelOut:
        return store.model_out(store.model(model_id))

    @app.get("/models/{model_id}/versions", response_model=VersionList)
    async def list_model_versions(
        model_id: int, include_archived: bool = False, page: PageNumber = 1, size: PageSize = 20
    ) -> VersionList:
        store.model(model_id)
        items = sorted(
            (
                v
                for v in store.seen("version", store.versions_of(model_id))
                if include_archived or v.archived_at is None
            ),
            key=lambda v: v.id,
        )
        chunk, meta = _paginate(items, page, size)
        return VersionList(versions=[store.version_out(v) for v in chunk], **meta)

    # -- versions

    @app.post("/versions", status_code=201, response_model=VersionOut)
    async def create_version(body: VersionCreate, request: Request) -> VersionOut:
        try:
            return store.version_out(store.create_version(body))
        except DuplicateWhileUncommitted as err:
            await stall_then_refuse(request, err)
            raise

    @app.get("/versions", response_model=VersionList)
    async def list_versions(
        model_id: int | None = None,
        min_eval_score: float | None = None,
        region: str | None = None,
        slo_ok: bool | None = None,
        model_type: str | None = None,
        framework: str | None = None,
        include_archived: bool = True,
        page: PageNumber = 1,
        size: PageSize = 20,
    ) -> VersionList:
        def keep(v: _Version) -> bool:
            return (
                (model_id is None or v.model_id == model_id)
                and (
                    min_eval_score is None
                    or (v.eval_score is not None and v.eval_score >= min_eval_score)
                )
                and (region is None or v.region == region)
                and (slo_ok is None or v.slo_ok == slo_ok)
                and (model_type is None or v.model_type == model_type)
                and (framework is None or v.framework == framework)
                and (include_archived or v.archived_at is None)
            )

        ordered = sorted(store.versions.values(), key=lambda v: v.id)
        items = [v for v in store.seen("version", ordered) if keep(v)]
        chunk, meta = _paginate(items, page, size)
        return VersionList(versions=[store.version_out(v) for v in chunk], **meta)

    @app.get("/versions/{version_id}", response_model=VersionOut)
    async def get_version(version_id: int) -> VersionOut:
        return store.version_out(store.version(version_id))

    @app.put("/versions/{version_id}", response_model=VersionOut)
    async def update_version(version_id: int, body: VersionUpdate) -> VersionOut:
        version = store.version(version_id)
        for key, value in body.model_dump(exclude_unset=True).items():
            if key == "slo_ok" and value is None:
                continue
            setattr(version, key, value)
        return store.version_out(version)

    # -- bindings

    @app.post("/bindings", status_code=201, response_model=BindingOut)
    async def create_binding(body: BindingCreate, request: Request) -> BindingOut:
        try:
            return store.binding_out(store.create_binding(body))
        except DuplicateWhileUncommitted as err:
            await stall_then_refuse(request, err)
            raise

    @app.get("/bindings", response_model=BindingList)
    async def list_bindings(
        version_id: int | None = None,
        provider: Provider | None = None,
        status: BindingStatus | None = None,
        page: PageNumber = 1,
        size: PageSize = 20,
    ) -> BindingList:
        items = [
            b
            for b in store.seen("binding", sorted(store.bindings.values(), key=lambda b: b.id))
            if (version_id is None or b.version_id == version_id)
            and (provider is None or b.provider == provider)
            and (status is None or b.status == status)
        ]
        chunk, meta = _paginate(items, page, size)
        return BindingList(bindings=[store.binding_out(b) for b in chunk], **meta)

    @app.get("/bindings/{binding_id}", response_model=BindingOut)
    async def get_binding(binding_id: int) -> BindingOut:
        return store.binding_out(store.binding(binding_id))

    @app.put("/bindings/{binding_id}", response_model=BindingOut)
    async def update_binding(binding_id: int, body: BindingUpdate) -> BindingOut:
        binding = store.binding(binding_id)
        changes = body.model_dump(exclude_unset=True)
        for key, value in changes.items():
            if value is None and key in ("status", "provider_model_id"):
                continue
            setattr(binding, key, value)
        if changes:
            binding.updated_at = _now()
        return store.binding_out(binding)

    # -- emulator controls (not part of the registry's contract)

    @app.post(f"{ADMIN_PREFIX}/faults", status_code=201, tags=["emulator"])
    async def add_fault(spec: FaultSpec) -> dict[str, Any]:
        if spec.status != 0 and not 400 <= spec.status <= 599:
            raise HTTPException(400, "status must be 0 (down) or a 4xx/5xx status")
        fault = _Fault(
            path_prefix=spec.path_prefix,
            method=spec.method.upper() if spec.method else None,
            status=spec.status,
            remaining=spec.count,
            delay_seconds=spec.delay_seconds,
        )
        control.faults.append(fault)
        return fault.as_dict()

    @app.delete(f"{ADMIN_PREFIX}/faults", tags=["emulator"])
    async def clear_faults() -> dict[str, Any]:
        cleared = len(control.faults)
        control.faults.clear()
        return {"cleared": cleared}

    @app.post(f"{ADMIN_PREFIX}/hold", status_code=201, tags=["emulator"])
    async def add_hold(spec: HoldSpec) -> dict[str, Any]:
        hold = _Hold(
            path_prefix=spec.path_prefix,
            method=spec.method.upper() if spec.method else None,
            seconds=spec.seconds,
            remaining=spec.count,
        )
        control.holds.append(hold)
        return hold.as_dict()

    @app.delete(f"{ADMIN_PREFIX}/hold", tags=["emulator"])
    async def release_holds() -> dict[str, Any]:
        released = control.held_now
        control.release_holds()
        return {"released": released}

    @app.put(f"{ADMIN_PREFIX}/consistency", tags=["emulator"])
    async def set_consistency(spec: ConsistencySpec) -> dict[str, Any]:
        store.visibility.configure(spec)
        return store.visibility.as_dict()

    @app.delete(f"{ADMIN_PREFIX}/consistency", tags=["emulator"])
    async def clear_consistency() -> dict[str, Any]:
        store.visibility.clear()
        return store.visibility.as_dict()

    @app.post(f"{ADMIN_PREFIX}/reset", tags=["emulator"])
    async def reset() -> dict[str, Any]:
        store.reset()
        control.reset()
        return {"reset": True}

    @app.get(f"{ADMIN_PREFIX}/state", tags=["emulator"])
    async def state() -> dict[str, Any]:
        return {
            "models": len(store.models),
            "versions": len(store.versions),
            "active_versions": sum(1 for v in store.versions.values() if v.archived_at is None),
            "bindings": len(store.bindings),
            "calls": dict(control.calls),
            "faults": [f.as_dict() for f in control.faults],
            "holds": [h.as_dict() for h in control.holds],
            "held_calls": control.held_now,
            "dropped_calls": control.dropped_calls,
            "consistency": store.visibility.as_dict(),
        }

    return app
