"""The Model Registry's routes: health, models, versions and provider bindings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from .consistency import DuplicateWhileUncommitted
from .schemas import (
    BindingCreate,
    BindingList,
    BindingOut,
    BindingStatus,
    BindingUpdate,
    HealthOut,
    ModelCreate,
    ModelList,
    ModelOut,
    Provider,
    Task,
    VersionCreate,
    VersionList,
    VersionOut,
    VersionUpdate,
)
from .store import RegistryStore, VersionRecord, paginate, utc_now


def current_store(request: Request) -> RegistryStore:
    store = request.app.state.store
    assert isinstance(store, RegistryStore)
    return store


StoreDep = Annotated[RegistryStore, Depends(current_store)]
PageNumber = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=100)]

router = APIRouter()


# -- health


@router.get("/health", response_model=HealthOut)
async def health(store: StoreDep) -> HealthOut:
    return HealthOut(
        status="healthy",
        timestamp=utc_now(),
        version=store.settings.service_version,
        database_connected=True,
        model_count=len(store.models),
        version_count=len(store.versions),
    )


# -- models


async def _stall_then_refuse(
    store: RegistryStore, request: Request, err: DuplicateWhileUncommitted
) -> None:
    await store.visibility.stall(request)
    raise HTTPException(400, err.message)


@router.post("/models", status_code=201, response_model=ModelOut)
async def create_model(store: StoreDep, body: ModelCreate, request: Request) -> ModelOut:
    try:
        return store.model_out(store.create_model(body))
    except DuplicateWhileUncommitted as err:
        await _stall_then_refuse(store, request, err)
        raise


@router.get("/models", response_model=ModelList)
async def list_models(
    store: StoreDep,
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
    chunk, meta = paginate(items, page, size)
    return ModelList(models=[store.model_out(m) for m in chunk], **meta)


@router.get("/models/name/{name}", response_model=ModelOut)
async def get_model_by_name(store: StoreDep, name: str) -> ModelOut:
    for m in store.models.values():
        if m.name == name and store.visibility.visible("model", m.id):
            return store.model_out(m)
    raise HTTPException(404, "Model not found")


@router.get("/models/{model_id}", response_model=ModelOut)
async def get_model(store: StoreDep, model_id: int) -> ModelOut:
    return store.model_out(store.model(model_id))


@router.get("/models/{model_id}/versions", response_model=VersionList)
async def list_model_versions(
    store: StoreDep,
    model_id: int,
    include_archived: bool = False,
    page: PageNumber = 1,
    size: PageSize = 20,
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
    chunk, meta = paginate(items, page, size)
    return VersionList(versions=[store.version_out(v) for v in chunk], **meta)


# -- versions


@router.post("/versions", status_code=201, response_model=VersionOut)
async def create_version(store: StoreDep, body: VersionCreate, request: Request) -> VersionOut:
    try:
        return store.version_out(store.create_version(body))
    except DuplicateWhileUncommitted as err:
        await _stall_then_refuse(store, request, err)
        raise


@router.get("/versions", response_model=VersionList)
async def list_versions(
    store: StoreDep,
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
    def keep(v: VersionRecord) -> bool:
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
    chunk, meta = paginate(items, page, size)
    return VersionList(versions=[store.version_out(v) for v in chunk], **meta)


@router.get("/versions/{version_id}", response_model=VersionOut)
async def get_version(store: StoreDep, version_id: int) -> VersionOut:
    return store.version_out(store.version(version_id))


@router.put("/versions/{version_id}", response_model=VersionOut)
async def update_version(store: StoreDep, version_id: int, body: VersionUpdate) -> VersionOut:
    version = store.version(version_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        if key == "slo_ok" and value is None:
            continue
        setattr(version, key, value)
    return store.version_out(version)


# -- bindings


@router.post("/bindings", status_code=201, response_model=BindingOut)
async def create_binding(store: StoreDep, body: BindingCreate, request: Request) -> BindingOut:
    try:
        return store.binding_out(store.create_binding(body))
    except DuplicateWhileUncommitted as err:
        await _stall_then_refuse(store, request, err)
        raise


@router.get("/bindings", response_model=BindingList)
async def list_bindings(
    store: StoreDep,
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
    chunk, meta = paginate(items, page, size)
    return BindingList(bindings=[store.binding_out(b) for b in chunk], **meta)


@router.get("/bindings/{binding_id}", response_model=BindingOut)
async def get_binding(store: StoreDep, binding_id: int) -> BindingOut:
    return store.binding_out(store.binding(binding_id))


@router.put("/bindings/{binding_id}", response_model=BindingOut)
async def update_binding(store: StoreDep, binding_id: int, body: BindingUpdate) -> BindingOut:
    binding = store.binding(binding_id)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key in ("status", "provider_model_id"):
            continue
        setattr(binding, key, value)
    if changes:
        binding.updated_at = utc_now()
    return store.binding_out(binding)
