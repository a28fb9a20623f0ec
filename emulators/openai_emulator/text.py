"""Small text helpers shared by chat answering, judging and datasets."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import string
from collections.abc import Iterable
from typing import Any

STOPWORDS = frozenset(
    """
    the and for are but not you your yours with this that these those from have has had was
    were will would can could should shall may might must what which who whom whose when where
    why how all any both each few more most other some such only own same than too very just
    into onto about above below over under again further then once here there they them their
    theirs our ours out off its it's his her hers him she he we me my mine also because while
    until does did doing done being been is am be of to in on at by or an a if as so do no nor
    let lets get got yes please thank thanks
    """.split()
)

_WORD_RE = re.compile(r"[^\W_]+")
_ALPHANUM = string.ascii_letters + string.digits


def content_words(text: str) -> list[str]:
    """Lower-cased words longer than two characters, punctuation stripped, no stopwords.

    Order of first occurrence is kept; duplicates are dropped.
    """
    lowered = text.lower().replace("\u2019", "'").replace("'", "")
    seen: dict[str, None] = {}
    for word in _WORD_RE.findall(lowered):
        if len(word) > 2 and word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def approx_tokens(text: str) -> float:
    """Roughly 1.3 tokens per whitespace-separated word."""
    return len(text.split()) * 1.3


def usage_tokens(text: str) -> int:
    return max(1, math.ceil(approx_tokens(text))) if text.strip() else 0


def message_text(message: Any) -> str:
    """Plain text of a chat message whose content is a string or a list of content parts."""
    if not isinstance(message, dict):
        return ""
    return content_text(message.get("content"))


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def stable_id(prefix: str, *parts: object, length: int = 24) -> str:
    """An id derived from `parts`: the same inputs always give the same id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rem = divmod(number, len(_ALPHANUM))
        chars.append(_ALPHANUM[rem])
    return prefix + "".join(chars)


def stable_int(*parts: object, bits: int = 31) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)
