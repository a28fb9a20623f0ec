"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from openai import AsyncOpenAI

from activities.providers.base import FineTuningProvider
from activities.providers.openai_provider import OpenAIProvider, make_openai_client
from core.db import open_database
from core.models import Provider
from core.settings import Settings


class UnsupportedProvider(Exception):
    pass


@dataclass
class ActivityDeps:
    settings: Settings
    pool: asyncpg.Pool
    openai_client: AsyncOpenAI

    def provider(self, name: str) -> FineTuningProvider:
        if name == Provider.openai.value:
            return OpenAIProvider(self.openai_client)
        raise UnsupportedProvider(f"provider '{name}' is not available in this deployment")

    @classmethod
    async def open(cls, settings: Settings) -> ActivityDeps:
        pool = await open_database(settings.database_url, max_size=settings.database_pool_max)
        # Temporal retries failed activities; the SDK's own retries only smooth short blips.
        client = make_openai_client(settings, max_retries=2)
        return cls(settings=settings, pool=pool, openai_client=client)

    async def close(self) -> None:
        await self.openai_client.close()
        await self.pool.close()
