"""Text and free-form JSON that is safe to store and send on (no I/O here).

Every string a caller gives us reaches PostgreSQL (whose `text` and `jsonb` cannot hold
NUL), Temporal payloads and the registry (UTF-8 only, so no lone surrogates). The types here
refuse such values at the boundary, with a message that names where the value is but never
repeats it (it may be personal data).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# NUL, and UTF-16 surrogate code points (only a lone one can reach a Python str: JSON
# keeps `\ud800` as is). One character per match.
UNSAFE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# The characters of an identifier (an error code, a key shown as it is).
IDENTIFIER_CHARS = "A-Za-z0-9_.:-"
IDENTIFIER_MAX_CHARS = 64
# Keys shown in an error path as they are; any other key is shown by its position.
_PLAIN_KEY = re.compile(f"[{IDENTIFIER_CHARS}]{{1,{IDENTIFIER_MAX_CHARS}}}")

# Bounds on free text (the API's types and what workflows keep of signalled text).
NAME_MAX_CHARS = 255
REASON_MAX_CHARS = 1000
NOTE_MAX_CHARS = 2000
DESCRIPTION_MAX_CHARS = 4000


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or sent as text, or None when it can."""
    found = UNSAFE_CHARACTER.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return "must be valid Unicode (a lone surrogate cannot be encoded as UTF-8)"


def replace_unsafe(value: str) -> str:
    """`value` with each NUL or lone surrogate shown as U+FFFD: printable in any response."""
    return UNSAFE_CHARACTER.sub(REPLACEMENT, value)


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


_SAFE = AfterValidator(check_text)

# Every string that is stored or sent on is one of these (the length is checked first).
ShortText = Annotated[str, StringConstraints(max_length=255), _SAFE]
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX_CHARS), _SAFE]
Label = Annotated[str, StringConstraints(max_length=1000), _SAFE]
Reason = Annotated[str, StringConstraints(max_length=REASON_MAX_CHARS), _SAFE]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX_CHARS), _SAFE]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_CHARS), _SAFE]
UriText = Annotated[str, StringConstraints(min_length=1, max_length=2048), _SAFE]


class _JsonLimits:
    """Bounds of one free-form JSON value; `__call__` is its pydantic validator."""

    def __init__(self, *, max_depth: int, max_nodes: int, max_string: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.max_string = max_string

    def __call__(self, value: Any) -> Any:
        problem = self.first_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def first_problem(self, value: Any, root: str = "") -> str | None:
        """The first item that cannot be stored, as '<path>: <why>'; iterative, so any
        depth is safe to inspect."""
        stack: list[tuple[Any, str, int]] = [(value, root, 0)]
        nodes = 0
        while stack:
            item, path, depth = stack.pop()
            nodes += 1
            if nodes > self.max_nodes:
                return _at(root, f"more than {self.max_nodes} items")
            if depth > self.max_depth:
                return _at(path, f"nested deeper than {self.max_depth} levels")
            problem = self._scalar_problem(item)
            if problem is not None:
                return _at(path, problem)
            if isinstance(item, dict):
                for position, (key, child) in enumerate(item.items()):
                    if not isinstance(key, str):
                        return _at(path, f"key #{position} is not a string")
                    key_problem = self._string_problem(key)
                    if key_problem is not None:
                        return _at(path, f"key #{position} {key_problem}")
                    stack.append((child, _join(path, key, position), depth + 1))
            elif isinstance(item, list | tuple):
                for position, child in enumerate(item):
                    stack.append((child, f"{path}[{position}]", depth + 1))
        return None

    def _scalar_problem(self, item: Any) -> str | None:
        if item is None or isinstance(item, bool):
            return None
        if isinstance(item, int):
            return None if INT64_MIN <= item <= INT64_MAX else "integer outside 64-bit range"
        if isinstance(item, float):
            return None if math.isfinite(item) else "NaN and Infinity are not allowed"
        if isinstance(item, str):
            return self._string_problem(item)
        if isinstance(item, dict | list | tuple):
            return None
        return "is not a JSON value"

    def _string_problem(self, value: str) -> str | None:
        if len(value) > self.max_string:
            return f"is longer than {self.max_string} characters"
        return text_problem(value)


def _at(path: str, problem: str) -> str:
    return f"{path}: {problem}" if path else problem


def _join(path: str, key: str, position: int) -> str:
    segment = key if _PLAIN_KEY.fullmatch(key) else f"{{key #{position}}}"
    return f"{path}.{segment}" if path else segment


check_free_json = _JsonLimits(max_depth=16, max_nodes=10_000, max_string=65_536)
# Inline custom evaluation suites carry whole samples, so they may be much larger.
check_suite_json = _JsonLimits(max_depth=32, max_nodes=1_000_000, max_string=1_048_576)

# A free-form JSON object (datasheet extras, policy restrictions, promotion metadata).
FreeJson = Annotated[dict[str, Any], AfterValidator(check_free_json)]
SuiteJson = Annotated[dict[str, Any], AfterValidator(check_suite_json)]


def extra_fields_problem(extra: dict[str, Any] | None) -> str | None:
    """The first unstorable item among a model's extra (undeclared) fields."""
    return check_free_json.first_problem(extra) if extra else None
