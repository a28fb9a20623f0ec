"""Serialize registry writes per model name across every worker.

Two promotions creating the same new model (or picking the next version number of the same
model) at once can stall a registry that answers before it commits. A PostgreSQL advisory
lock keyed on the registry model name (`store.locks`), held across the whole find-or-create
sequence, makes them take turns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from activities.registry.errors import RegistryUnavailable
from store.locks import LockBusy, advisory_lock

LOCK_NAMESPACE = "registry-model:"


class RegistryModelBusy(RegistryUnavailable):
    """Another promotion of the same model name held the lock for too long; retry later."""


@asynccontextmanager
async def registry_model_lock(
    database_url: str, model_name: str, wait_seconds: float = 20.0
) -> AsyncIterator[None]:
    # The wait is bounded, so the activity fails (and is retried) before its own timeout
    # instead of hanging behind a stuck promoter.
    try:
        async with advisory_lock(database_url, LOCK_NAMESPACE + model_name, wait_seconds):
            yield
    except LockBusy:
        raise RegistryModelBusy(
            None, f"another promotion of registry model {model_name!r} is in progress"
        ) from None
