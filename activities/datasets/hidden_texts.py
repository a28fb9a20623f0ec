"""Strings the provider receives that token counting never reads, for the PII scan.

A record that passed validation has only allowed message keys, so what is left unread is
few places: keys outside the formats' schema (top level, content parts, image objects,
tool calls) and everything under them, plus tool-call ids and image URLs. Visiting just
those places keeps the cost per plain-text message at a few dict lookups.
"""

from __future__ import annotations

from typing import Any

from activities.datasets.structure import SHOWN_KEYS

_MESSAGE_LISTS = ("messages", "preferred_output", "non_preferred_output")


def texts_outside_the_schema(example: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _unknown_keys(example, found)
    holders = [example]
    if isinstance(example.get("input"), dict):
        holders.append(example["input"])
        _unknown_keys(example["input"], found)
    for holder in holders:
        for name in _MESSAGE_LISTS:
            messages = holder.get(name)
            if isinstance(messages, list):
                for message in messages:
                    if isinstance(message, dict):
                        _message(message, found)
    return found


def _message(message: dict[str, Any], found: list[str]) -> None:
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                _unknown_keys(part, found)
                image = part.get("image_url")
                if isinstance(image, dict):
                    _unknown_keys(image, found)
                    _add_string(image.get("url"), found)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                _unknown_keys(call, found)
                _add_string(call.get("id"), found)
                if isinstance(call.get("function"), dict):
                    _unknown_keys(call["function"], found)
    if isinstance(message.get("function_call"), dict):
        _unknown_keys(message["function_call"], found)


def _unknown_keys(obj: dict[str, Any], found: list[str]) -> None:
    for key, value in obj.items():
        if key not in SHOWN_KEYS:
            found.append(key)
            _all_strings(value, found)


def _all_strings(value: Any, found: list[str]) -> None:
    """Every key and string under `value` (iterative: the record passed the depth limit,
    but nothing here should recurse on data)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _add_string(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
