"""`/v1/chat/completions`: answers recalled from what a fine-tuned model learnt, and grades."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request

from .. import chat
from ..errors import invalid_request, missing_parameter
from ..jobs import Job
from ..state import Emulator
from ..text import message_text, random_id, stable_id, usage_tokens
from .deps import EmulatorDep, json_body

router = APIRouter(prefix="/v1/chat/completions")


@router.post("")
async def chat_completion(emulator: EmulatorDep, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    now = emulator.tick()
    model, messages, n = _validated(body)
    response_model, job = emulator.resolve_chat_model(model, now)
    if emulator.settings.chat_latency_seconds:
        await asyncio.sleep(emulator.settings.chat_latency_seconds)
        now = emulator.tick()
    content = _content(emulator, request, body, messages, job)

    finish_reason = "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit > 0 and usage_tokens(content) > limit:
        words = content.split()
        keep = max(1, int(limit / 1.3))
        content = " ".join(words[:keep])
        finish_reason = "length"

    prompt_tokens = max(1, sum(usage_tokens(message_text(m)) for m in messages))
    completion_tokens = usage_tokens(content) * n
    return _completion(
        response_model, now, content, finish_reason, n, prompt_tokens, completion_tokens
    )


def _validated(body: dict[str, Any]) -> tuple[str, list[Any], int]:
    """(model, messages, n) of a well-formed request; OpenAI's 400 otherwise."""
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
    return str(model), messages, n


def _content(
    emulator: Emulator,
    request: Request,
    body: dict[str, Any],
    messages: list[Any],
    job: Job | None,
) -> str:
    question = chat.last_user_text(messages)
    response_format = body.get("response_format")
    if chat.is_grading_request(response_format):
        injected = emulator.faults.take_mode("judge_garbage", "POST", request.url.path)
        if injected:
            return chat.GARBAGE_ANSWERS[(injected - 1) % len(chat.GARBAGE_ANSWERS)]
        return chat.grade_content(question)
    answer = None
    if job is not None:
        answer = chat.recall_answer(question, job.answer_examples)
    content = answer if answer is not None else chat.generic_answer(question)
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        content = json.dumps({"answer": content})
    return content


def _completion(
    model: str,
    now: float,
    content: str,
    finish_reason: str,
    n: int,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
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
        "model": model,
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
        "system_fingerprint": "fp_" + stable_id("", model, length=10).lower(),
    }
