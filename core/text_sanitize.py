"""Make free text safe to store: PostgreSQL text holds no NUL, UTF-8 no lone surrogates.

Pure functions (no I/O), so workflows may use them on what arrives by signal or update:
anything sent straight from the `temporal` CLI bypasses the API's checks.
"""

from __future__ import annotations

import re
from typing import Any

from core.text import (
    DESCRIPTION_MAX_CHARS,
    IDENTIFIER_CHARS,
    IDENTIFIER_MAX_CHARS,
    NAME_MAX_CHARS,
    NOTE_MAX_CHARS,
    REASON_MAX_CHARS,
    REPLACEMENT,
    UNSAFE_CHARACTER,
)

__all__ = [
    "CODE_MAX_CHARS",
    "DESCRIPTION_MAX_CHARS",
    "ERROR_MESSAGE_MAX_CHARS",
    "NAME_MAX_CHARS",
    "NOTE_MAX_CHARS",
    "REASON_MAX_CHARS",
    "REPLACEMENT",
    "TRUNCATION_MARK",
    "minimal_text",
    "safe_code",
    "safe_json",
    "safe_optional_text",
    "safe_text",
]

_NOT_IDENTIFIER = re.compile(f"[^{IDENTIFIER_CHARS}]")

TRUNCATION_MARK = "…"
CODE_MAX_CHARS = IDENTIFIER_MAX_CHARS
# Bound on an error message a job keeps (its row, its workflow state, the UI details).
ERROR_MESSAGE_MAX_CHARS = 4000


def safe_text(value: str, max_chars: int) -> str:
    """`value` without NUL (dropped) or lone surrogates (replaced), at most `max_chars` long."""
    cleaned = UNSAFE_CHARACTER.sub(lambda m: "" if m.group() == "\x00" else REPLACEMENT, value)
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max(max_chars - 1, 0)] + TRUNCATION_MARK
    return cleaned


def safe_optional_text(value: str | None, max_chars: int) -> str | None:
    return None if value is None else safe_text(value, max_chars)


def minimal_text(value: str | None, max_chars: int = 200) -> str | None:
    """The most conservative form of a message: printable ASCII only, short."""
    if value is None:
        return None
    ascii_only = "".join(ch if " " <= ch <= "~" else "?" for ch in value[: max_chars * 2])
    return safe_text(ascii_only, max_chars)


def safe_code(value: str | None, fallback: str = "step_failed") -> str:
    """An error code: a short identifier, whatever a provider or a step called it."""
    cleaned = _NOT_IDENTIFIER.sub("_", value or "")[:CODE_MAX_CHARS]
    return cleaned or fallback


def safe_json(value: Any, max_chars: int, depth: int = 0) -> Any:
    """Every string (keys included) in a JSON-like value made safe; too deep is dropped."""
    if depth > 32:
        return None
    if isinstance(value, str):
        return safe_text(value, max_chars)
    if isinstance(value, dict):
        return {
            safe_text(str(k), max_chars): safe_json(v, max_chars, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [safe_json(v, max_chars, depth + 1) for v in value]
    return value
