"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

import asyncpg
from openai import AsyncOpenAI

from activities.providers.base import FineTuningProvider
from activities.providers.openai_provider import OpenAIProvider
from activities.registry.client import RegistryClient
from core.db import open_database
from core.models import Provider
from core.openai_client import make_openai_client
from core.settings import Settings


class UnsupportedProvider(Exception):
    pass


class ActivityDeps:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self._openai: AsyncOpenAI | None = None
        self._openai_key: str | None = None
        self._retired: list[AsyncOpenAI] = []
        self._registry: RegistryClient | None = None
        self._registry_key: str | None = None
        self._retired_registries: list[RegistryClient] = []

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
        """The provider client, rebuilt when the API key (or its file) has been rotated."""
        key = self.settings.provider_api_key()
        if self._openai is None or key != self._openai_key:
            if self._openai is not None:
                self._retired.append(self._openai)  # in-flight calls may still use it
            # Temporal retries failed activities; the SDK's own retries smooth short blips.
            self._openai = make_openai_client(self.settings, max_retries=2)
            self._openai_key = key
        return self._openai

    def provider(self, name: str) -> FineTuningProvider:
        if name == Provider.openai.value:
            return OpenAIProvider(self.openai_client)
        raise UnsupportedProvider(f"provider '{name}' is not available in this deployment")

    @classmethod
    async def open(cls, settings: Settings) -> ActivityDeps:
        pool = await open_database(settings.database_url, max_size=settings.database_pool_max)
        return cls(settings=settings, pool=pool)

    async def close(self) -> None:
        for client in [*self._retired, *([self._openai] if self._openai else [])]:
            await client.close()
        for registry in [*self._retired_registries, *([self._registry] if self._registry else [])]:
            await registry.aclose()
        await self.pool.close()
