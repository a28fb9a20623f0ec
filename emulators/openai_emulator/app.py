"""FastAPI application speaking OpenAI's REST wire format (``/v1``) plus ``/_emulator`` admin."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from . import chat
from .catalogue import ORGANIZATION_SLUG
from .errors import APIError, invalid_request, missing_parameter, server_error
from .faults import FaultSpec
from .files import UPLOAD_PURPOSES
from .moderation import moderation_response
from .settings import EmulatorSettings
from .state import Emulator
from .text import content_text, message_text, random_id, stable_id, usage_tokens
from .uploads import register_uploads

log = logging.getLogger(__name__)

MODERATION_MODELS = frozenset(
    {
        "omni-moderation-latest",
        "omni-moderation-2024-09-26",
        "text-moderation-latest",
        "text-moderation-stable",
    }
)
_METADATA_FILTER = re.compile(r"^metadata\[(.+)\]$")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise invalid_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)"
        )
    return body


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request(f"Invalid value for '{name}': expected an integer.", name) from None
    if value < low:
        raise invalid_request(f"Invalid value for '{name}': must be at least {low}.", name)
    return min(value, high)


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """Cursor pagination over `items` (already in API order), OpenAI style."""
    start = 0
    if after:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "has_more": start + limit < len(items),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def _route_template(app: FastAPI, request: Request) -> str:
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return request.url.path


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    """Build an emulator app; its state lives in ``app.state.emulator``."""
    emulator = Emulator(settings or EmulatorSettings())
    app = FastAPI(
        title="OpenAI API emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = emulator

    # ---- cross-cutting: ids, auth, call counting, faults ---------------------------------

    @app.middleware("http")
    async def openai_surface(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = "req_" + secrets.token_hex(16)
        started = time.perf_counter()
        try:
            if request.url.path.startswith("/v1/"):
                response = await _v1_request(request, call_next)
            else:
                response = await call_next(request)
        except APIError as exc:
            response = exc.response()
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.url.path)
            response = server_error().response()
        response.headers["x-request-id"] = request_id
        response.headers["openai-organization"] = ORGANIZATION_SLUG
        response.headers["openai-version"] = "2020-10-01"
        response.headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        return response

    async def _v1_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        emulator.tick()
        emulator.calls[f"{request.method} {_route_template(app, request)}"] += 1
        key = emulator.settings.api_key
        if key:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise APIError(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code="invalid_api_key",
                )
            if token.strip() != key:
                shown = token.strip()[:6] + "*" * 4 + token.strip()[-4:]
                raise APIError(
                    401,
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
        plan = emulator.faults.plan(request.method, request.url.path)
        if plan.delay_seconds:
            await asyncio.sleep(plan.delay_seconds)
        if plan.error is not None:
            return plan.error.response()
        response = await call_next(request)
        if plan.after_commit_delay_seconds:
            await asyncio.sleep(plan.after_commit_delay_seconds)
        return response

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            message = f"Invalid URL ({request.method} {request.url.path})"
        else:
            message = str(exc.detail)
        return APIError(exc.status_code, message).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_request(f"Invalid request: {exc.errors()}").response()

    # ---- files --------------------------------------------------------------------------

    @app.post("/v1/files")
    async def create_file(request: Request) -> dict[str, Any]:
        now = emulator.tick()
        try:
            form = await request.form()
        except Exception:
            raise invalid_request("Expected a multipart/form-data body.") from None
        try:
            upload = form.get("file")
            purpose = form.get("purpose")
            if not isinstance(upload, UploadFile):
                raise missing_parameter("file")
            if not isinstance(purpose, str) or not purpose:
                raise missing_parameter("purpose")
            if purpose not in UPLOAD_PURPOSES:
                raise invalid_request(
                    f"'{purpose}' is not one of {sorted(UPLOAD_PURPOSES)} - 'purpose'", "purpose"
                )
            content = await upload.read()
            if not content:
                raise invalid_request("The uploaded file is empty.", "file")
            expires_at = None
            seconds = form.get("expires_after[seconds]")
            if isinstance(seconds, str) and seconds:
                try:
                    expires_at = int(now) + int(seconds)
                except ValueError:
                    raise invalid_request(
                        "Invalid value for 'expires_after.seconds'.", "expires_after.seconds"
                    ) from None
            stored = emulator.files.add(
                filename=upload.filename or "file",
                purpose=purpose,
                content=content,
                created_at=int(now),
                expires_at=expires_at,
            )
        finally:
            await form.close()
        return stored.to_api()

    @app.get("/v1/files")
    async def list_files(request: Request) -> dict[str, Any]:
        emulator.tick()
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid_request("Invalid value for 'order': expected 'asc' or 'desc'.", "order")
        items = emulator.files.list(purpose=request.query_params.get("purpose"), order=order)
        limit = _int_param(request, "limit", 10000, 1, 10000)
        return _page([f.to_api() for f in items], request.query_params.get("after"), limit)

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str) -> dict[str, Any]:
        emulator.tick()
        return emulator.files.get(file_id).to_api()

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str) -> dict[str, Any]:
        emulator.tick()
        stored = emulator.files.delete(file_id)
        return {"id": stored.id, "object": "file", "deleted": True}

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str) -> Response:
        emulator.tick()
        stored = emulator.files.get(file_id)
        return Response(content=stored.content, media_type="application/octet-stream")

    # ---- fine-tuning --------------------------------------------------------------------

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        now = emulator.tick()
        job = emulator.create_job(body, now)
        return job.to_api(now)

    @app.get("/v1/fine_tuning/jobs")
    async def list_jobs(request: Request) -> dict[str, Any]:
        now = emulator.tick()
        params = request.query_params
        wanted: dict[str, str] = {}
        for key, value in params.multi_items():
            match = _METADATA_FILTER.match(key)
            if match:
                wanted[match.group(1)] = value
        null_only = params.get("metadata") == "null"
        if null_only and wanted:
            raise invalid_request(
                "Do not combine 'metadata=null' with 'metadata[key]=value' filters.", "metadata"
            )
        jobs = emulator.list_jobs()
        if null_only:
            jobs = [j for j in jobs if not j.metadata]
        elif wanted:
            jobs = [
                j
                for j in jobs
                if j.metadata and all(j.metadata.get(k) == v for k, v in wanted.items())
            ]
        limit = _int_param(request, "limit", 20, 1, 100)
        page = _page([j.to_api(now) for j in jobs], params.get("after"), limit)
        return {"object": "list", "data": page["data"], "has_more": page["has_more"]}

    @app.get("/v1/fine_tuning/jobs/{fine_tuning_job_id}")
    async def retrieve_job(fine_tuning_job_id: str) -> dict[str, Any]:
        now = emulator.tick()
        return emulator.get_job(fine_tuning_job_id).to_api(now)

    @app.post("/v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel")
    async def cancel_job(fine_tuning_job_id: str) -> dict[str, Any]:
        now = emulator.tick()
        return emulator.cancel_job(fine_tuning_job_id, now).to_api(now)

    @app.get("/v1/fine_tuning/jobs/{fine_tuning_job_id}/events")
    async def list_events(fine_tuning_job_id: str, request: Request) -> dict[str, Any]:
        now = emulator.tick()
        job = emulator.get_job(fine_tuning_job_id)
        events = [job.event_to_api(e) for e in reversed(job.events(now))]
        limit = _int_param(request, "limit", 20, 1, 1000)
        page = _page(events, request.query_params.get("after"), limit)
        return {"object": "list", "data": page["data"], "has_more": page["has_more"]}

    @app.get("/v1/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints")
    async def list_checkpoints(fine_tuning_job_id: str, request: Request) -> dict[str, Any]:
        now = emulator.tick()
        job = emulator.get_job(fine_tuning_job_id)
        checkpoints = list(reversed(job.checkpoints(now)))
        limit = _int_param(request, "limit", 10, 1, 100)
        return _page(checkpoints, request.query_params.get("after"), limit)

    # ---- models -------------------------------------------------------------------------

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        now = emulator.tick()
        return {"object": "list", "data": emulator.list_models(now)}

    @app.get("/v1/models/{model}")
    async def retrieve_model(model: str) -> dict[str, Any]:
        now = emulator.tick()
        return emulator.model_object(model, now)

    @app.delete("/v1/models/{model}")
    async def delete_model(model: str) -> dict[str, Any]:
        now = emulator.tick()
        return emulator.delete_model(model, now)

    # ---- chat ---------------------------------------------------------------------------

    @app.post("/v1/chat/completions")
    async def chat_completion(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        now = emulator.tick()
        model = body.get("model")
        if not model:
            raise missing_parameter("model")
        messages = body.get("messages")
        if messages is None:
            raise missing_parameter("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid_request(
                "Invalid 'messages': expected a non-empty array.", "messages", "empty_array"
            )
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise invalid_request(
                    f"Invalid 'messages[{index}]': expected an object with a 'role'.",
                    f"messages.[{index}].role",
                )
        if body.get("stream"):
            raise invalid_request(
                "Streaming is not supported by this server; send stream=false.",
                "stream",
                "unsupported_value",
            )
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 128:
            raise invalid_request("Invalid 'n': expected an integer between 1 and 128.", "n")
        temperature = body.get("temperature")
        if temperature is not None and (
            not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
        ):
            raise invalid_request(
                f"Invalid 'temperature': {temperature!r}. Expected a number between 0 and 2.",
                "temperature",
                "decimal_above_max_value",
            )
        response_model, job = emulator.resolve_chat_model(str(model), now)
        if emulator.settings.chat_latency_seconds:
            await asyncio.sleep(emulator.settings.chat_latency_seconds)
            now = emulator.tick()

        question = chat.last_user_text(messages)
        response_format = body.get("response_format")
        if chat.is_grading_request(response_format):
            injected = emulator.faults.take_mode("judge_garbage", "POST", request.url.path)
            if injected:
                content = chat.GARBAGE_ANSWERS[(injected - 1) % len(chat.GARBAGE_ANSWERS)]
            else:
                content = chat.grade_content(question)
        else:
            answer = None
            if job is not None:
                answer = chat.recall_answer(question, job.answer_examples)
            content = answer if answer is not None else chat.generic_answer(question)
            if isinstance(response_format, dict) and response_format.get("type") == "json_object":
                content = json.dumps({"answer": content})

        finish_reason = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and usage_tokens(content) > limit:
            words = content.split()
            keep = max(1, int(limit / 1.3))
            content = " ".join(words[:keep])
            finish_reason = "length"

        prompt_tokens = max(1, sum(usage_tokens(message_text(m)) for m in messages))
        completion_tokens = usage_tokens(content) * n
        choice_message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        return {
            "id": random_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(now),
            "model": response_model,
            "choices": [
                {
                    "index": i,
                    "message": dict(choice_message),
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_" + stable_id("", response_model, length=10).lower(),
        }

    # ---- moderation ---------------------------------------------------------------------

    @app.post("/v1/moderations")
    async def moderate(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        emulator.tick()
        if "input" not in body:
            raise missing_parameter("input")
        model = body.get("model")
        if model is not None and model not in MODERATION_MODELS:
            raise APIError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        raw = body["input"]
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            inputs = list(raw)
        elif isinstance(raw, list) and all(isinstance(item, dict) for item in raw):
            # Multi-modal parts are classified together as one input.
            inputs = [content_text(raw)]
        else:
            raise invalid_request(
                "Invalid 'input': expected a string, an array of strings or content parts.",
                "input",
            )
        return moderation_response(inputs)

    # ---- admin (not part of OpenAI's API) ----------------------------------------------

    @app.post("/_emulator/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        try:
            spec = FaultSpec.model_validate(body)
        except ValidationError as exc:
            raise invalid_request(f"Invalid fault: {exc.errors(include_url=False)}") from None
        return emulator.faults.add(spec).to_api()

    @app.get("/_emulator/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [rule.to_api() for rule in emulator.faults.list()]}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict[str, Any]:
        return {"cleared": emulator.faults.clear()}

    @app.delete("/_emulator/faults/{fault_id}")
    async def delete_fault(fault_id: str) -> dict[str, Any]:
        if not emulator.faults.remove(fault_id):
            raise APIError(404, f"No such fault: {fault_id}")
        return {"id": fault_id, "deleted": True}

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, Any]:
        emulator.reset()
        return {"reset": True}

    @app.get("/_emulator/state")
    async def state() -> dict[str, Any]:
        now = emulator.tick()
        return {
            "jobs": [
                {
                    "id": job.id,
                    "status": job.status(now),
                    "metadata": job.metadata,
                    "cancel_calls": job.cancel_calls,
                    "model": job.model,
                    "fine_tuned_model": (
                        job.fine_tuned_model if job.status(now) == "succeeded" else None
                    ),
                }
                for job in emulator.list_jobs()
            ],
            "files": len(emulator.files),
            "calls": dict(emulator.calls),
        }

    @app.post("/_emulator/jobs/{job_id}/fail")
    async def fail_job(job_id: str, request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = await _json_body(request) if raw.strip() else {}
        now = emulator.tick()
        error = {
            "code": str(body.get("code") or "server_error"),
            "message": str(body.get("message") or "The job failed due to an internal error."),
            "param": body.get("param"),
        }
        return emulator.fail_job(job_id, now, error).to_api(now)

    @app.post("/_emulator/clock/advance")
    async def advance_clock(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise invalid_request("'seconds' must be a non-negative number.", "seconds")
        emulator.clock_offset += float(seconds)
        return {"offset_seconds": emulator.clock_offset, "now": emulator.tick()}

    def _settings_view() -> dict[str, Any]:
        view = emulator.settings.model_dump()
        if view.get("api_key"):
            view["api_key"] = "***"
        return view

    @app.get("/_emulator/settings")
    async def get_settings() -> dict[str, Any]:
        return _settings_view()

    @app.patch("/_emulator/settings")
    async def update_settings(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        unknown = set(body) - set(EmulatorSettings.model_fields)
        if unknown:
            raise invalid_request(f"Unknown settings: {sorted(unknown)}")
        try:
            emulator.settings = EmulatorSettings.model_validate(
                {**emulator.settings.model_dump(), **body}
            )
        except ValidationError as exc:
            raise invalid_request(f"Invalid settings: {exc.errors(include_url=False)}") from None
        return _settings_view()

    register_uploads(app, emulator)
    return app
