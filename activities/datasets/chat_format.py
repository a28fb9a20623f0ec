"""Per-example checks for chat fine-tuning (SFT) records: `{"messages": [...], "tools": ...}`.

Covers what OpenAI's chat data-prep cookbook checks (keys, roles, content, an assistant
reply) plus the structure of tool calls, content parts and per-message weights, so a
file fails here with a line number instead of failing at the provider an hour later.
The message-level checks are shared with the DPO format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from activities.datasets.example_check import ExampleCheck
from activities.datasets.masking import describe_unknown
from activities.datasets.report import json_type, quote_name
from activities.datasets.tool_definitions import check_tool_definitions

ROLES = ("system", "user", "assistant", "tool", "function")
MESSAGE_KEYS = (
    "role",
    "content",
    "name",
    "function_call",
    "tool_calls",
    "tool_call_id",
    "weight",
    "refusal",
)
TOP_LEVEL_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
IMAGE_DETAILS = ("auto", "low", "high")


@dataclass(slots=True)
class MessageTally:
    """What the example-level rules need to know about a message list."""

    messages: int = 0
    assistant: int = 0
    trained_assistant: int = 0
    has_system: bool = False
    has_user: bool = False
    last_role: str | None = None
    # Ids of tool calls made so far, so tool results can be matched to them.
    tool_call_ids: set[str] = field(default_factory=set)


def check_chat_example(example: dict[str, Any], line: int) -> ExampleCheck:
    out = ExampleCheck(line)
    check_unknown_keys(example, TOP_LEVEL_KEYS, "", out)
    check_tool_definitions(example, "", out)
    if "messages" not in example:
        out.error("missing_messages", "messages", "is missing")
        return out
    tally = check_messages(example["messages"], "messages", out)
    if tally is None:
        return out
    out.messages = tally.messages
    out.assistant_messages = tally.assistant
    out.trained_assistant_messages = tally.trained_assistant
    if tally.assistant == 0:
        out.error("no_assistant_message", "messages", "has no assistant message")
    elif tally.trained_assistant == 0:
        out.warning(
            "no_trained_assistant_message",
            "messages",
            "has only assistant messages with weight 0, so nothing in it is trained on",
        )
    elif tally.last_role != "assistant":
        role = quote_name(tally.last_role) if tally.last_role else "no valid role"
        out.warning(
            "last_message_not_assistant",
            f"messages[{tally.messages - 1}]",
            f"is the last message but has {role}; messages after the last assistant"
            " message are not trained on",
        )
    if not tally.has_system:
        out.warning("missing_system_message", "messages", "has no system message")
    # Not on a record with errors: a message with a bad role may have been the user's.
    if not tally.has_user and not out.has_error:
        out.warning("missing_user_message", "messages", "has no user message")
    return out


def check_unknown_keys(
    obj: dict[str, Any], allowed: tuple[str, ...], prefix: str, out: ExampleCheck
) -> None:
    """Unknown keys are described, never shown: a key is data nobody scanned."""
    where = prefix or "the record"
    for key in obj:
        if key not in allowed:
            unknown = describe_unknown("an unrecognised key", key, allowed)
            out.warning_at(
                "unknown_top_level_key",
                f"{where} has {unknown} (expected: {', '.join(allowed)})",
                prefix or None,
            )


def check_messages(
    value: Any, path: str, out: ExampleCheck, tally: MessageTally | None = None
) -> MessageTally | None:
    """Check a message list; None when `value` is not a non-empty array."""
    if not isinstance(value, list):
        out.error("empty_messages", path, f"must be a non-empty array, got {json_type(value)}")
        return None
    if not value:
        out.error("empty_messages", path, "is an empty array")
        return None
    tally = tally or MessageTally()
    for i, message in enumerate(value):
        check_message(message, f"{path}[{i}]", out, tally)
    return tally


def check_message(message: Any, path: str, out: ExampleCheck, tally: MessageTally) -> None:
    tally.messages += 1
    tally.last_role = None
    if not isinstance(message, dict):
        out.error("message_not_object", path, f"must be an object, got {json_type(message)}")
        return
    for key in message:
        if key not in MESSAGE_KEYS:
            unknown = describe_unknown(
                "a key that is not an allowed message key", key, MESSAGE_KEYS
            )
            out.error(
                "unknown_message_key", path, f"has {unknown} (allowed: {', '.join(MESSAGE_KEYS)})"
            )
    role = _check_role(message, path, out)
    tally.last_role = role
    if role == "system":
        tally.has_system = True
    elif role == "user":
        tally.has_user = True
    elif role == "assistant":
        tally.assistant += 1
        if message.get("weight", 1) != 0:
            tally.trained_assistant += 1
    _check_content_presence(message, role, path, out)
    _check_weight(message, role, path, out)
    _check_name(message, role, path, out)
    _check_refusal(message, role, path, out)
    _check_calls(message, role, path, out, tally)


def _check_role(message: dict[str, Any], path: str, out: ExampleCheck) -> str | None:
    role_path = f"{path}.role"
    if "role" not in message:
        out.error("missing_role", role_path, "is missing")
        return None
    role = message["role"]
    if not isinstance(role, str):
        out.error("unknown_role", role_path, f"must be a string, got {json_type(role)}")
        return None
    if role not in ROLES:
        unknown = describe_unknown("is not one of " + ", ".join(ROLES), role, ROLES)
        out.error("unknown_role", role_path, unknown.replace("(not shown)", "(value not shown)"))
        return None
    return role


def _check_content_presence(
    message: dict[str, Any], role: str | None, path: str, out: ExampleCheck
) -> None:
    content = message.get("content")
    if content is not None:
        _check_content(content, role, f"{path}.content", out)
        return
    # An assistant turn may consist only of a call or a refusal.
    if role == "assistant" and (
        message.get("tool_calls") is not None
        or message.get("function_call") is not None
        or isinstance(message.get("refusal"), str)
    ):
        return
    state = "is null" if "content" in message else "is missing"
    out.error("missing_content", f"{path}.content", state)


def _check_content(content: Any, role: str | None, path: str, out: ExampleCheck) -> None:
    if isinstance(content, str):
        if not content.strip():
            out.warning("empty_content", path, "is empty")
        return
    if not isinstance(content, list):
        got = json_type(content)
        out.error(
            "invalid_content_type",
            path,
            f"must be a string or an array of content parts, got {got}",
        )
        return
    if not content:
        out.warning("empty_content", path, "is an empty array")
    for i, part in enumerate(content):
        _check_part(part, role, f"{path}[{i}]", out)


def _check_part(part: Any, role: str | None, path: str, out: ExampleCheck) -> None:
    if not isinstance(part, dict):
        out.error("invalid_content_type", path, f"must be an object, got {json_type(part)}")
        return
    kind = part.get("type")
    if kind == "text":
        _require_string(part, "text", path, out)
    elif kind == "refusal" and role == "assistant":
        _require_string(part, "refusal", path, out)
    elif kind == "image_url":
        _check_image_part(part, role, path, out)
    else:
        allowed = ("text", "image_url", "refusal") if role == "assistant" else ("text", "image_url")
        listed = ", ".join(allowed)
        if isinstance(kind, str):
            problem = describe_unknown(f"is not one of {listed}", kind, allowed)
            problem = problem.replace("(not shown)", "(value not shown)")
        else:
            problem = f"must be one of {listed}, got {json_type(kind)}"
        out.error("invalid_content_type", f"{path}.type", problem)


def _require_string(part: dict[str, Any], key: str, path: str, out: ExampleCheck) -> None:
    if not isinstance(part.get(key), str):
        got = json_type(part.get(key))
        out.error("invalid_content_type", f"{path}.{key}", f"must be a string, got {got}")


def _check_image_part(part: dict[str, Any], role: str | None, path: str, out: ExampleCheck) -> None:
    if role != "user":
        out.error("invalid_content_type", path, "is an image; images are only allowed from users")
    image = part.get("image_url")
    if not isinstance(image, dict) or not _non_blank(image.get("url")):
        out.error(
            "invalid_content_type", f"{path}.image_url", "must be an object with a non-empty url"
        )
        return
    if "detail" in image and image["detail"] not in IMAGE_DETAILS:
        out.error(
            "invalid_content_type",
            f"{path}.image_url.detail",
            f"must be one of {', '.join(IMAGE_DETAILS)}",
        )


def _check_weight(message: dict[str, Any], role: str | None, path: str, out: ExampleCheck) -> None:
    if "weight" not in message:
        return
    weight_path = f"{path}.weight"
    if role != "assistant":
        out.error("invalid_weight", weight_path, "is only allowed on assistant messages")
        return
    weight = message["weight"]
    # JSON true/false parse to bool, which Python would otherwise accept as 1/0.
    if isinstance(weight, bool) or not isinstance(weight, int) or weight not in (0, 1):
        out.error("invalid_weight", weight_path, f"must be 0 or 1, got {_weight_type(weight)}")


def _check_name(message: dict[str, Any], role: str | None, path: str, out: ExampleCheck) -> None:
    name_path = f"{path}.name"
    if "name" in message:
        if not _non_blank(message["name"]):
            out.error("invalid_name", name_path, "must be a non-empty string")
    elif role == "function":
        out.error("invalid_tool_call", name_path, "is required on function messages")


def _check_refusal(message: dict[str, Any], role: str | None, path: str, out: ExampleCheck) -> None:
    refusal = message.get("refusal")
    if refusal is None:
        return
    refusal_path = f"{path}.refusal"
    if role != "assistant":
        out.error("invalid_content_type", refusal_path, "is only allowed on assistant messages")
    elif not isinstance(refusal, str):
        out.error(
            "invalid_content_type", refusal_path, f"must be a string, got {json_type(refusal)}"
        )


def _check_calls(
    message: dict[str, Any], role: str | None, path: str, out: ExampleCheck, tally: MessageTally
) -> None:
    if message.get("tool_calls") is not None:
        _check_tool_calls(message["tool_calls"], role, f"{path}.tool_calls", out, tally)
    if message.get("function_call") is not None:
        if role != "assistant":
            out.error(
                "invalid_tool_call",
                f"{path}.function_call",
                "is only allowed on assistant messages",
            )
        _check_function(message["function_call"], f"{path}.function_call", out)
    id_path = f"{path}.tool_call_id"
    if role == "tool":
        call_id = message.get("tool_call_id")
        if "tool_call_id" not in message:
            out.error("invalid_tool_call", id_path, "is required on tool messages")
        elif not _non_blank(call_id):
            out.error("invalid_tool_call", id_path, "must be a non-empty string")
        elif call_id not in tally.tool_call_ids:
            out.error(
                "invalid_tool_call",
                id_path,
                "does not match the id of an earlier assistant tool call",
            )
    elif "tool_call_id" in message:
        out.error("invalid_tool_call", id_path, "is only allowed on tool messages")


def _check_tool_calls(
    calls: Any, role: str | None, path: str, out: ExampleCheck, tally: MessageTally
) -> None:
    if role != "assistant":
        out.error("invalid_tool_call", path, "is only allowed on assistant messages")
    if not isinstance(calls, list) or not calls:
        out.error("invalid_tool_call", path, f"must be a non-empty array, got {_array_type(calls)}")
        return
    for i, call in enumerate(calls):
        call_path = f"{path}[{i}]"
        if not isinstance(call, dict):
            out.error("invalid_tool_call", call_path, f"must be an object, got {json_type(call)}")
            continue
        call_id = call.get("id")
        if not _non_blank(call_id):
            out.error("invalid_tool_call", f"{call_path}.id", "must be a non-empty string")
        elif call_id in tally.tool_call_ids:
            out.error("invalid_tool_call", f"{call_path}.id", "repeats an earlier tool call id")
        else:
            tally.tool_call_ids.add(call_id)
        if call.get("type") != "function":
            out.error("invalid_tool_call", f"{call_path}.type", "must be 'function'")
        _check_function(call.get("function"), f"{call_path}.function", out)


def _check_function(fn: Any, path: str, out: ExampleCheck) -> None:
    """A called function: `{name, arguments}` where arguments is a JSON-encoded string."""
    if not isinstance(fn, dict):
        out.error("invalid_tool_call", path, f"must be an object, got {json_type(fn)}")
        return
    if not _non_blank(fn.get("name")):
        out.error("invalid_tool_call", f"{path}.name", "must be a non-empty string")
    args_path = f"{path}.arguments"
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        got = json_type(arguments)
        out.error("invalid_tool_call", args_path, f"must be a JSON-encoded string, got {got}")
        return
    try:
        json.loads(arguments)
    except (ValueError, RecursionError):
        out.warning("tool_arguments_not_json", args_path, "is not valid JSON")


def _non_blank(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _array_type(value: Any) -> str:
    return "an empty array" if value == [] else json_type(value)


def _weight_type(weight: Any) -> str:
    if isinstance(weight, bool):
        return "boolean"
    if isinstance(weight, int):
        return "another integer"
    if isinstance(weight, float):
        return "a floating-point number"
    return json_type(weight)
