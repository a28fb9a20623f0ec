"""FastAPI application speaking vLLM's OpenAI-compatible routes: `/v1/models`,
`/v1/chat/completions`, `/v1/load_lora_adapter`, `/v1/unload_lora_adapter`, `/health`.
Its models live in ``app.state.models``; they load at startup, in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.responses import Response

from .errors import ServingError, bad_request, install_error_handlers, invalid_user_input
from .generation import generate, prompt_token_ids, sampling_for
from .models import ModelServer, ServedBaseModel
from .schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    LoadLoRAAdapterRequest,
    ModelList,
    UnloadLoRAAdapterRequest,
    Usage,
)
from .settings import InferenceServerSettings


def create_app(settings: InferenceServerSettings | None = None) -> FastAPI:
    settings = settings or InferenceServerSettings()
    models = ModelServer(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(models.load_base_models)
        yield

    app = FastAPI(
        title="vLLM-compatible inference server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.models = models
    install_error_handlers(app, settings.api_key)
    _routes(app, models, settings)
    return app


def _routes(app: FastAPI, models: ModelServer, settings: InferenceServerSettings) -> None:
    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200 if models.ready else 503)

    @app.get("/v1/models")
    async def list_models() -> ModelList:
        return ModelList(data=models.model_cards())

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest) -> ChatCompletion:
        return await _complete(models, settings, body)

    if settings.allow_runtime_lora_updating:
        _lora_routes(app, models)


def _lora_routes(app: FastAPI, models: ModelServer) -> None:
    @app.post("/v1/load_lora_adapter")
    async def load_lora_adapter(body: LoadLoRAAdapterRequest) -> Response:
        if not body.lora_name or not body.lora_path:
            raise invalid_user_input("Both 'lora_name' and 'lora_path' must be provided.")
        await asyncio.to_thread(
            models.add_adapter, body.lora_name, body.lora_path, body.load_inplace
        )
        # vLLM answers a bare text body.
        return Response(f"Success: LoRA adapter '{body.lora_name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload_lora_adapter(body: UnloadLoRAAdapterRequest) -> Response:
        if not body.lora_name:
            raise invalid_user_input("'lora_name' needs to be provided to unload a LoRA adapter.")
        await asyncio.to_thread(models.remove_adapter, body.lora_name)
        return Response(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")


async def _route(models: ModelServer, model: str | None) -> tuple[ServedBaseModel, str | None, str]:
    """The base model, adapter and served name for `model`; an unknown name is offered to
    the LoRA resolver first, as vLLM does."""
    try:
        return models.resolve(model)
    except ServingError as error:
        if error.status != HTTPStatus.NOT_FOUND or not model:
            raise
        if not await asyncio.to_thread(models.resolve_adapter, model):
            raise
    return models.resolve(model)


async def _complete(
    models: ModelServer, settings: InferenceServerSettings, body: ChatCompletionRequest
) -> ChatCompletion:
    if body.stream:
        raise bad_request("Streaming is not supported by this server.", param="stream")
    if body.n is not None and body.n != 1:
        raise bad_request("n must be 1 on this server.", param="n")
    base, adapter, served_name = await _route(models, body.model)
    prompt_ids = await asyncio.to_thread(prompt_token_ids, base, body)
    sampling = sampling_for(body, len(prompt_ids), base.max_model_len, settings.max_tokens_limit)
    result = await asyncio.to_thread(generate, base, adapter, prompt_ids, sampling, models.lock)
    choice = ChatChoice(
        message=AssistantMessage(content=result.text),
        finish_reason=result.finish_reason,
        stop_reason=result.stop_reason,
    )
    usage = Usage(
        prompt_tokens=len(prompt_ids),
        completion_tokens=result.completion_tokens,
        total_tokens=len(prompt_ids) + result.completion_tokens,
    )
    return ChatCompletion(model=served_name, choices=[choice], usage=usage)
