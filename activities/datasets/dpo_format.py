"""Per-example checks for preference (DPO) records.

Shape: `{"input": {"messages": [...], "tools": ...}, "preferred_output": [assistant message],
"non_preferred_output": [assistant message]}`. Messages get the same checks as chat records.
"""

from __future__ import annotations

from typing import Any

from activities.datasets.chat_format import (
    ExampleCheck,
    MessageTally,
    check_message,
    check_messages,
    check_tool_definitions,
    check_unknown_keys,
)
from activities.datasets.report import json_type

TOP_LEVEL_KEYS = ("input", "preferred_output", "non_preferred_output")
INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")
OUTPUT_KEYS = ("preferred_output", "non_preferred_output")


def check_dpo_example(example: dict[str, Any], line: int) -> ExampleCheck:
    out = ExampleCheck(line)
    check_unknown_keys(example, TOP_LEVEL_KEYS, "", out)
    tally = _check_input(example, out)
    outputs = [_check_output(example, key, out) for key in OUTPUT_KEYS]
    if tally is not None:
        usable = [o for o in outputs if o is not None]
        out.messages = tally.messages + sum(o.messages for o in usable)
        out.assistant_messages = tally.assistant + sum(o.assistant for o in usable)
    preferred, rejected = (example.get(key) for key in OUTPUT_KEYS)
    if all(o is not None for o in outputs) and preferred == rejected:
        out.warning(
            "identical_outputs",
            "non_preferred_output",
            "is identical to preferred_output, so the pair teaches nothing",
        )
    return out


def _check_input(example: dict[str, Any], out: ExampleCheck) -> MessageTally | None:
    if "input" not in example:
        out.error("missing_input", "input", "is missing")
        return None
    value = example["input"]
    if not isinstance(value, dict):
        out.error("invalid_input", "input", f"must be an object, got {json_type(value)}")
        return None
    check_unknown_keys(value, INPUT_KEYS, "input", out)
    check_tool_definitions(value, "input", out)
    if "messages" not in value:
        out.error("missing_messages", "input.messages", "is missing")
        return None
    tally = check_messages(value["messages"], "input.messages", out)
    if tally is not None and not tally.has_user and not out.has_error:
        out.warning("missing_user_message", "input.messages", "has no user message")
    return tally


def _check_output(example: dict[str, Any], key: str, out: ExampleCheck) -> MessageTally | None:
    """Check one completion; returns its own tally, or None when it is not a one-message array."""
    if key not in example:
        out.error("missing_output", key, "is missing")
        return None
    value = example[key]
    if not isinstance(value, list) or len(value) != 1:
        shape = f"an array of {len(value)}" if isinstance(value, list) else json_type(value)
        out.error("invalid_output", key, f"must be an array holding one message, got {shape}")
        return None
    tally = MessageTally()
    message = value[0]
    check_message(message, f"{key}[0]", out, tally)
    if isinstance(message, dict) and message.get("role") != "assistant":
        out.error("invalid_output", f"{key}[0].role", "must be 'assistant'")
    return tally
