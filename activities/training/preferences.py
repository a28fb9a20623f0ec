"""Preference examples as TRL's DPOTrainer takes them: the OpenAI preference format,
`{"input": {"messages": [...]}, "preferred_output": [assistant message],
"non_preferred_output": [assistant message]}`, as conversational rows `prompt`, `chosen`,
`rejected`. No heavy imports, so a bad file fails before torch loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from activities.training.errors import ExampleError

PreferenceRow = dict[str, list[dict[str, Any]]]


def read_preferences(path: Path) -> list[PreferenceRow]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise ExampleError("the dataset file can't be read as UTF-8 text") from None
    rows = [_row(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        raise ExampleError("the dataset has no examples")
    return rows


def _row(number: int, line: str) -> PreferenceRow:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise ExampleError(f"line {number}: not valid JSON") from None
    given = record.get("input") if isinstance(record, dict) else None
    prompt = given.get("messages") if isinstance(given, dict) else None
    if not isinstance(prompt, list) or not prompt:
        raise ExampleError(f"line {number}: expected 'input' with a 'messages' list")
    row: PreferenceRow = {"prompt": [_message(number, message) for message in prompt]}
    for key, column in (("preferred_output", "chosen"), ("non_preferred_output", "rejected")):
        output = record.get(key)
        if not isinstance(output, list) or len(output) != 1:
            raise ExampleError(f"line {number}: '{key}' must hold one assistant message")
        message = _message(number, output[0])
        if message["role"] != "assistant":
            raise ExampleError(f"line {number}: '{key}' must hold one assistant message")
        row[column] = [message]
    return row


def _message(number: int, message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise ExampleError(f"line {number}: every message needs a 'role'")
    return {key: value for key, value in message.items() if key != "weight"}
