"""The worker's OpenAI client, shared by the fine-tuning provider and the evaluation's
inference calls, and rebuilt when the API key (or its file) is rotated."""

from __future__ import annotations

from openai import AsyncOpenAI

from core.openai_client import make_openai_client
from core.settings import Settings


class RotatingOpenAIClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: AsyncOpenAI | None = None
        self._key: str | None = None
        self._retired: list[AsyncOpenAI] = []

    def current(self) -> AsyncOpenAI:
        key = self._settings.provider_api_key()
        if self._client is None or key != self._key:
            if self._client is not None:
                self._retired.append(self._client)  # in-flight calls may still use it
            # Temporal retries failed activities; the SDK's own retries smooth short blips.
            self._client = make_openai_client(self._settings, max_retries=2)
            self._key = key
        return self._client

    async def close(self) -> None:
        for client in [*self._retired, *([self._client] if self._client else [])]:
            await client.close()
        self._retired.clear()
        self._client = None
