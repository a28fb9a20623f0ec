"""What a report may show of a value taken from the data: only values we know.

Reports reach people, PostgreSQL (jsonb) and Temporal payloads, so a key, role or part type
read from a file is never echoed as written: it could hold an e-mail address (keys are not
PII-scanned), a NUL (jsonb refuses it) or a lone surrogate (no UTF-8 encoder takes it).
A value from the allowed set is named; any other is described, with a "did you mean" when
it differs from an allowed value only in case, spacing or punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Lone UTF-16 surrogates: json.loads combines valid pairs, so any left in a str are lone.
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_FOLD = re.compile(r"[\s_\-.]+")


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def suggestion(value: str, allowed: Iterable[str]) -> str | None:
    """The allowed value `value` was probably meant as (`Role` -> `role`), if any."""
    folded = _FOLD.sub("", value).casefold()
    if not folded:
        return None
    for name in allowed:
        if _FOLD.sub("", name).casefold() == folded:
            return name
    return None


def describe_unknown(what: str, value: Any, allowed: Iterable[str]) -> str:
    """`an unknown message key (not shown); did you mean 'content'?`, never the value."""
    guess = suggestion(value, allowed) if isinstance(value, str) else None
    text = f"{what} (not shown)"
    return f"{text}; did you mean {guess!r}?" if guess else text


def safe_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced, so it can be stored and encoded."""
    return _UNSAFE_TEXT.sub("\ufffd", text)


def scrub(value: Any) -> Any:
    """A JSON-like value with every string (keys too) passed through `safe_text`.

    The last line of defence before a report is stored or returned: messages are built
    from allowed values only, but a report must never be the thing that fails to save.
    """
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
