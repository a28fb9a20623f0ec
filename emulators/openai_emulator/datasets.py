"""Validation and parsing of fine-tuning JSONL files (chat SFT and DPO preference formats)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .text import approx_tokens, content_text, message_text

MIN_TRAINING_EXAMPLES = 10
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class Example:
    """What a fine-tuned model learns: answer `answer` to questions like `prompt`."""

    prompt: str
    answer: str


@dataclass
class Dataset:
    examples: list[Example] = field(default_factory=list)
    tokens: float = 0.0
    error: str | None = None

    @property
    def n_examples(self) -> int:
        return len(self.examples)


class _LineError(Exception):
    pass


def parse_dataset(content: bytes, method: str, *, min_examples: int = 0) -> Dataset:
    """Parse a JSONL file; `error` holds OpenAI-style text about the first problem found."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Dataset(error="Invalid file format. The file is not valid UTF-8 encoded text.")
    dataset = Dataset()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            return Dataset(error=f"Invalid file format. Line {number} is not valid JSON.")
        try:
            if not isinstance(record, dict):
                raise _LineError("Expected a JSON object.")
            if method == "dpo":
                example, tokens = _parse_preference(record)
            else:
                example, tokens = _parse_chat(record)
        except _LineError as exc:
            return Dataset(error=f"Invalid file format. Line {number}, {exc}")
        dataset.examples.append(example)
        dataset.tokens += tokens
    if dataset.n_examples < min_examples:
        dataset.error = (
            f"Training file has {dataset.n_examples} example(s), but must have at least "
            f"{min_examples} examples."
        )
    return dataset


def _check_messages(messages: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _LineError(f'key "{key}": Expected a non-empty array of messages.')
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise _LineError(f'key "{key}", message {index}: Expected an object.')
        role = message.get("role")
        if role not in ROLES:
            raise _LineError(f'key "{key}", message {index}: Invalid role {role!r}.')
        content = message.get("content")
        has_call = bool(message.get("tool_calls") or message.get("function_call"))
        if content is None and not (role == "assistant" and has_call):
            raise _LineError(f'key "{key}", message {index}: Missing "content".')
        if content is not None and not isinstance(content, (str, list)):
            raise _LineError(
                f'key "{key}", message {index}: "content" must be a string or an array.'
            )
        weight = message.get("weight")
        if weight is not None and weight not in (0, 1):
            raise _LineError(f'key "{key}", message {index}: "weight" must be 0 or 1.')
    return messages


def _last_user_before(messages: list[dict[str, Any]], end: int) -> str:
    for message in reversed(messages[:end]):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _parse_chat(record: dict[str, Any]) -> tuple[Example, float]:
    if "messages" not in record:
        raise _LineError('key "messages": Missing required key.')
    messages = _check_messages(record["messages"], "messages")
    assistant_positions = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if not assistant_positions:
        raise _LineError('key "messages": At least one message must be from the assistant.')
    final = assistant_positions[-1]
    example = Example(
        prompt=_last_user_before(messages, final),
        answer=message_text(messages[final]),
    )
    tokens = sum(approx_tokens(message_text(m)) for m in messages)
    return example, tokens


def _parse_preference(record: dict[str, Any]) -> tuple[Example, float]:
    prompt_input = record.get("input")
    if not isinstance(prompt_input, dict):
        raise _LineError('key "input": Expected an object with "messages".')
    messages = _check_messages(prompt_input.get("messages"), "input.messages")
    outputs: dict[str, list[dict[str, Any]]] = {}
    for key in ("preferred_output", "non_preferred_output"):
        if key not in record:
            raise _LineError(f'key "{key}": Missing required key.')
        output = _check_messages(record[key], key)
        if len(output) != 1 or output[0].get("role") != "assistant":
            raise _LineError(f'key "{key}": Must contain exactly one assistant message.')
        if not content_text(output[0].get("content")).strip():
            raise _LineError(f'key "{key}": The assistant message must have text content.')
        outputs[key] = output
    example = Example(
        prompt=_last_user_before(messages, len(messages)),
        answer=message_text(outputs["preferred_output"][0]),
    )
    tokens = sum(approx_tokens(message_text(m)) for m in messages) + sum(
        approx_tokens(message_text(out[0])) for out in outputs.values()
    )
    return example, tokens
