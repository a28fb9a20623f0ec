"""The OpenAI SDK client, built one way from settings: the API uses it for its base-model
checks, the provider activities for fine-tuning and the evaluation calls."""

from __future__ import annotations

from openai import AsyncOpenAI

from core.settings import Settings


def make_openai_client(settings: Settings, max_retries: int | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=settings.provider_api_key(),
        base_url=settings.openai_base_url,
        max_retries=settings.openai_max_retries if max_retries is None else max_retries,
        timeout=settings.openai_timeout_seconds,
    )
