"""What the GPU worker's training activity needs, built once per GPU worker process: the
PostgreSQL projection (progress, events, the result), the artifact store and the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from activities.artifacts.factory import open_artifact_store
from activities.artifacts.store import ArtifactStore
from core.base_model_catalogue import BaseModelCatalogue, load_catalogue
from core.db import open_database
from core.settings import Settings


class NoCatalogue(Exception):
    pass


def catalogue_of(settings: Settings) -> BaseModelCatalogue:
    if settings.self_hosted_catalogue_file is None:
        raise NoCatalogue("SELF_HOSTED_CATALOGUE_FILE is not set: no self-hosted base models")
    return load_catalogue(settings.self_hosted_catalogue_file)


@dataclass
class TrainingDeps:
    settings: Settings
    pool: asyncpg.Pool
    artifacts: ArtifactStore

    @property
    def catalogue(self) -> BaseModelCatalogue:
        return catalogue_of(self.settings)  # cached per file version by load_catalogue

    @classmethod
    async def open(cls, settings: Settings) -> TrainingDeps:
        catalogue_of(settings)  # a GPU worker without a catalogue cannot train: fail at start
        pool = await open_database(settings.database_url, max_size=4)
        return cls(settings=settings, pool=pool, artifacts=open_artifact_store(settings))

    async def close(self) -> None:
        await self.pool.close()
