"""Checks on a parsed record's shape that no format rule covers: nesting and Unicode.

`json.loads` accepts objects nested ~1,000 deep and strings holding lone UTF-16 surrogates
(`"\\ud800"`). Both break later steps: the canonical-JSON hash, token counting and tool
schemas recurse (RecursionError), and no UTF-8 encoder takes a lone surrogate (fingerprints,
Temporal payloads, PostgreSQL). So a record must pass here before anything else reads it.

The walk is iterative (memory grows with depth, not size) and runs only on lines that could
fail it: ones with more brackets than the depth limit, or with a `\\uD8xx`-`\\uDFxx` escape
(a lone surrogate cannot come from UTF-8 text; `decode` refuses those bytes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from activities.datasets.example_check import ExampleCheck
from activities.datasets.masking import has_lone_surrogate

MAX_NESTING_DEPTH = 64
# Keys a path may name: the formats' own. Any other key is data and shows as `<key>`.
SHOWN_KEYS = frozenset(
    {
        "messages", "tools", "functions", "parallel_tool_calls", "input", "preferred_output",
        "non_preferred_output", "role", "content", "name", "function_call", "tool_calls",
        "tool_call_id", "weight", "refusal", "type", "text", "image_url", "url", "detail",
        "function", "arguments", "id", "parameters", "description", "strict",
    }
)  # fmt: skip
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A key ends with a closing quote, optional whitespace and a colon.
_KEY_END = re.compile(r'"[ \t\r\n]*:')

Child = tuple[str, Any]


def needs_structure_check(text: str) -> bool:
    """False when `text` cannot nest too deep nor hold a lone surrogate (the fast path)."""
    if text.count("{") + text.count("[") > MAX_NESTING_DEPTH:
        return True
    return "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None


def check_structure(value: Any, line: int) -> ExampleCheck:
    """Errors for nesting deeper than MAX_NESTING_DEPTH and for lone surrogates."""
    out = ExampleCheck(line)
    stack: list[tuple[Iterator[Child], str, int]] = [(_children(value, "", out), "", 1)]
    while stack:
        children, _, depth = stack[-1]
        item = next(children, None)
        if item is None:
            stack.pop()
            continue
        path, child = item
        if isinstance(child, str):
            if has_lone_surrogate(child):
                out.error("invalid_unicode", path or "the record", _SURROGATE_VALUE)
        elif isinstance(child, dict | list):
            if depth + 1 > MAX_NESTING_DEPTH:
                out.error_at("too_deeply_nested", nesting_message(path), path or None)
            elif child:  # an empty one holds nothing to check
                stack.append((_children(child, path, out), path, depth + 1))
    return out


def nesting_message(path: str | None) -> str:
    where = f"{path} nests" if path else "the record nests"
    return f"{where} arrays or objects more than {MAX_NESTING_DEPTH} levels deep"


_SURROGATE_VALUE = "is not valid Unicode: it holds a lone UTF-16 surrogate escape"


def _children(container: Any, path: str, out: ExampleCheck) -> Iterator[Child]:
    if isinstance(container, list):
        for i, item in enumerate(container):
            if isinstance(item, str | dict | list):
                yield f"{path}[{i}]", item
        return
    for key, item in container.items():
        if has_lone_surrogate(key):
            out.error_at(
                "invalid_unicode",
                f"{path or 'the record'} has a key that is not valid Unicode (not shown): it holds"
                " a lone UTF-16 surrogate escape",
                path or None,
            )
        if isinstance(item, str | dict | list):
            label = key if key in SHOWN_KEYS else "<key>"
            yield (f"{path}.{label}" if path else label), item


def repeated_keys(text: str, canonical: str) -> int:
    """How many keys on the line repeat a key of the same object (JSON keeps the last).

    Parsing every line with an `object_pairs_hook` costs a Python call per object (about
    +20 % on the whole analysis), so the line is re-parsed that way only when it has more
    key ends than its canonical form: collapsing a repeat is the one way to lose one.
    (A quote written as `\\u0022` before a colon inside a string can hide a repeat; this is
    a warning, so a rare miss is accepted.)
    """
    if len(_KEY_END.findall(text)) <= canonical.count('":'):
        return 0
    repeats = 0

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        obj = dict(pairs)
        repeats += len(pairs) - len(obj)
        return obj

    json.loads(text, object_pairs_hook=pairs_to_dict)
    return repeats
