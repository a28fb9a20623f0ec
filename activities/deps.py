"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

import asyncpg
from openai import AsyncOpenAI

from activities.artifacts.store import ArtifactStore
from activities.evaluation.endpoints import InferenceClients
from activities.providers.base import FineTuningProvider
from activities.providers.openai_clients import RotatingOpenAIClient
from activities.providers.registry import ProviderClients, build_provider
from activities.registry.client import RegistryClient
from core.db import open_database
from core.settings import Settings


class ActivityDeps:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self._clients = ProviderClients(settings=settings, openai=RotatingOpenAIClient(settings))
        self._registry: RegistryClient | None = None
        self._registry_key: str | None = None
        self._retired_registries: list[RegistryClient] = []
        self._inference = InferenceClients(settings, self._clients.openai.current)
        self._artifacts: ArtifactStore | None = None

    @property
    def registry(self) -> RegistryClient:
        """One pooled registry client per worker, rebuilt when its key is rotated."""
        key = self.settings.registry_api_key()
        if self._registry is None or key != self._registry_key:
            if self._registry is not None:
                self._retired_registries.append(self._registry)
            self._registry = RegistryClient(
                self.settings.model_registry_url,
                key,
                timeout=self.settings.model_registry_timeout_seconds,
            )
            self._registry_key = key
        return self._registry

    @property
    def openai_client(self) -> AsyncOpenAI:
        """The OpenAI client for the evaluation's inference calls, shared with the provider."""
        return self._clients.openai.current()

    @property
    def inference(self) -> InferenceClients:
        """The evaluation's clients per inference endpoint (OpenAI, self-hosted servers)."""
        return self._inference

    @property
    def artifact_store(self) -> ArtifactStore:
        """The artifact store (adapters, checkpoints), opened on first use."""
        if self._artifacts is None:
            # Imported here: only workers that serve self-hosted models need the store's
            # clients (boto3 for S3).
            from activities.artifacts.factory import open_artifact_store

            self._artifacts = open_artifact_store(self.settings)
        return self._artifacts

    def provider(self, name: str) -> FineTuningProvider:
        """The named provider from the registry; `UnsupportedProvider` if not served here."""
        return build_provider(name, self._clients)

    @classmethod
    async def open(cls, settings: Settings) -> ActivityDeps:
        pool = await open_database(settings.database_url, max_size=settings.database_pool_max)
        return cls(settings=settings, pool=pool)

    async def close(self) -> None:
        await self._clients.openai.close()
        await self._inference.close()
        for registry in [*self._retired_registries, *([self._registry] if self._registry else [])]:
            await registry.aclose()
        await self.pool.close()
