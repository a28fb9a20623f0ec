"""A keyword lexicon standing in for OpenAI's moderation classifier."""

from __future__ import annotations

import re
from typing import Any

from .text import random_id

MODERATION_MODEL = "omni-moderation-latest"

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# Categories for which OpenAI also classifies images; text input only reports "text".
FLAGGED_SCORE = 0.9
CLEAN_SCORE = 0.01

# term -> categories it flags. Terms match as whole words/phrases, case-insensitively.
LEXICON: dict[str, tuple[str, ...]] = {}


def _add(categories: tuple[str, ...], *terms: str) -> None:
    for term in terms:
        LEXICON[term] = tuple(dict.fromkeys(LEXICON.get(term, ()) + categories))


_add(
    ("violence",),
    "kill",
    "kills",
    "killing",
    "killed",
    "murder",
    "murders",
    "murdered",
    "murdering",
    "stab",
    "stabs",
    "stabbed",
    "stabbing",
    "shoot",
    "shoots",
    "shooting",
    "bomb",
    "bombs",
    "weapon",
    "weapons",
    "explosive",
    "explosives",
)
_add(("violence/graphic",), "gore", "dismember", "mutilate")
_add(("illicit/violent",), "make a bomb", "build a bomb", "make explosives", "buy a gun")
_add(("harassment/threatening", "violence"), "i will kill you", "i'll kill you", "kill you")
_add(
    ("self-harm",),
    "hurt yourself",
    "cut yourself",
    "suicide",
    "suicidal",
    "self-harm",
    "self harm",
    "hurt myself",
    "cut myself",
)
_add(("self-harm/intent",), "kill myself", "end my life", "want to die", "hurt myself")
_add(("self-harm/instructions",), "how to cut yourself", "ways to hurt yourself")
_add(("harassment",), "stupid", "idiot", "idiots", "loser", "losers", "worthless", "i hate you")
_add(("hate",), "i hate you")
_add(
    ("illicit",),
    "steal",
    "stealing",
    "shoplift",
    "shoplifting",
    "drugs",
    "buy alcohol",
    "fake id",
    "hack into",
    "make a bomb",
    "build a bomb",
    "buy a gun",
)
_add(("sexual",), "explicit", "nude", "nudes", "porn", "pornography")


def _compile(term: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in term.split()]
    return re.compile(r"(?<![\w'])" + r"\s+".join(parts) + r"(?![\w'])", re.IGNORECASE)


_PATTERNS = [(term, _compile(term), cats) for term, cats in LEXICON.items()]


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'")


def matched_terms(text: str) -> list[str]:
    """Lexicon terms occurring in `text` (whole words, case-insensitive)."""
    normalised = _normalise(text)
    return [term for term, pattern, _ in _PATTERNS if pattern.search(normalised)]


def flagged_categories(text: str) -> set[str]:
    normalised = _normalise(text)
    found: set[str] = set()
    for _, pattern, cats in _PATTERNS:
        if pattern.search(normalised):
            found.update(cats)
    return found


def moderation_result(text: str) -> dict[str, Any]:
    found = flagged_categories(text)
    return {
        "flagged": bool(found),
        "categories": {c: c in found for c in CATEGORIES},
        "category_scores": {c: FLAGGED_SCORE if c in found else CLEAN_SCORE for c in CATEGORIES},
        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
    }


def moderation_response(inputs: list[str]) -> dict[str, Any]:
    return {
        "id": random_id("modr-", 24),
        "model": MODERATION_MODEL,
        "results": [moderation_result(text) for text in inputs],
    }
