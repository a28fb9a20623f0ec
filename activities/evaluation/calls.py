"""Every provider call of an evaluation goes through here: cache, concurrency, rate limits.

Order per call: look the request up in the cache (no slot needed); on a miss take a
concurrency slot, wait while the rate gate is closed, call the provider, feed the response
headers to the gate, and store the response when the caller found it usable. Transient
errors (429, 5xx, timeouts) are retried inside the SDK, honouring `Retry-After`; the
evaluation client is built with a retry budget sized for rate-limit storms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import openai
from openai import AsyncOpenAI
from openai.types import ModerationCreateResponse
from openai.types.chat import ChatCompletion

from activities.evaluation.cache import request_key
from activities.providers.openai_provider import counted_call

if TYPE_CHECKING:  # graders import this module; a runtime import would be circular
    from activities.evaluation.graders.base import CallTarget, GradeContext


def chat_params(
    model: str,
    messages: list[dict[str, str]],
    *,
    seed: int,
    response_format: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The request, and the cache key's input: greedy decoding with a fixed seed."""
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": 0,
        "seed": seed,
    }
    if response_format is not None:
        params["response_format"] = response_format
    return params


def _observe_error(target: CallTarget, exc: openai.APIError) -> None:
    # A 429 that outlived the SDK's retries still says when the budget refills.
    if target.gate is not None and isinstance(exc, openai.APIStatusError):
        target.gate.observe(exc.response.headers)


async def _send_chat(
    ctx: GradeContext, target: CallTarget, params: dict[str, Any]
) -> ChatCompletion:
    client, gate = target.client, target.gate
    async with ctx.semaphore:
        if gate is not None:
            await gate.wait()
        try:
            if isinstance(client, AsyncOpenAI):
                with counted_call("chat.completions", target.provider):
                    raw = await client.chat.completions.with_raw_response.create(
                        **params, timeout=ctx.request_timeout
                    )
                if gate is not None:
                    gate.observe(raw.headers)
                return raw.parse()
            # In-memory stand-ins for the SDK (unit tests) have no raw responses.
            return await client.chat.completions.create(**params, timeout=ctx.request_timeout)
        except openai.APIError as exc:
            _observe_error(target, exc)
            raise


async def chat_completion(
    ctx: GradeContext,
    params: dict[str, Any],
    *,
    usable: Callable[[ChatCompletion], bool],
    target: CallTarget | None = None,
) -> ChatCompletion:
    """A chat completion for `params`, from the cache when this exact request ran before.

    `usable` decides whether a fresh response may be cached: a reply the caller rejects
    (no content, a judge reply that does not parse) is an error, and errors are retried
    on the next run instead of being replayed forever. `target` is the server to ask
    (default: the graded model's).
    """
    target = target or ctx.model_target()
    key = request_key("chat", params, target.cache_scope)
    if ctx.cache is not None:
        hit = await ctx.cache.get(key)
        if hit is not None:
            return ChatCompletion.model_validate(hit)
    completion = await _send_chat(ctx, target, params)
    if ctx.cache is not None and usable(completion):
        await ctx.cache.put(
            key,
            kind="chat",
            model=params["model"],
            response=completion.model_dump(mode="json", by_alias=True),
        )
    return completion


async def _send_moderation(
    ctx: GradeContext, target: CallTarget, params: dict[str, Any]
) -> ModerationCreateResponse:
    client, gate = target.client, target.gate
    async with ctx.semaphore:
        if gate is not None:
            await gate.wait()
        try:
            if isinstance(client, AsyncOpenAI):
                with counted_call("moderations", target.provider):
                    raw = await client.moderations.with_raw_response.create(
                        **params, timeout=ctx.request_timeout
                    )
                if gate is not None:
                    gate.observe(raw.headers)
                return raw.parse()
            return await client.moderations.create(**params, timeout=ctx.request_timeout)
        except openai.APIError as exc:
            _observe_error(target, exc)
            raise


async def moderation(ctx: GradeContext, text: str, model: str) -> ModerationCreateResponse:
    """The moderation endpoint's verdict on `text`, cached like chat completions."""
    target = ctx.moderation_call_target()
    params = {"model": model, "input": text}
    key = request_key("moderation", params, target.cache_scope)
    if ctx.cache is not None:
        hit = await ctx.cache.get(key)
        if hit is not None:
            return ModerationCreateResponse.model_validate(hit)
    response = await _send_moderation(ctx, target, params)
    if ctx.cache is not None and response.results:
        await ctx.cache.put(
            key,
            kind="moderation",
            model=model,
            response=response.model_dump(mode="json", by_alias=True),
        )
    return response
