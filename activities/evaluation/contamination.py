"""Contamination check: which eval samples the model may have seen in its training data.

The validate step feeds every training example to a `TrainingFingerprints` collector and
stores the 8-byte fingerprints (not the text: no training data is copied around); the
evaluation fingerprints each sample's prompt the same way and excludes the matches, since
a memorised answer measures recall, not teaching.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from core.evaluation_suites import Suite

_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower-case, drop punctuation, collapse whitespace: the form compared for overlap."""
    lowered = unicodedata.normalize("NFKC", text).casefold()
    no_punct = "".join(
        " " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in lowered
    )
    return _WS.sub(" ", no_punct).strip()


def prompt_fingerprint(text: str) -> int:
    """Signed 64-bit hash of the normalised text (fits PostgreSQL's bigint)."""
    digest = hashlib.blake2b(normalise_text(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p["text"]
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("text"), str)
        ]
        return "\n".join(parts) if parts else None
    return None


def _messages(example: Mapping[str, Any]) -> list[Any]:
    """Chat records keep messages at the top; preference (DPO) records under `input`."""
    messages = example.get("messages")
    if messages is None and isinstance(example.get("input"), Mapping):
        messages = example["input"].get("messages")
    return messages if isinstance(messages, list) else []


def training_prompts(example: Mapping[str, Any]) -> list[str]:
    """The user turns of one training example.

    Every user turn counts, not only the last: each is followed by an assistant turn the
    model is trained on, so any of them can be recalled verbatim.
    """
    found = []
    for message in _messages(example):
        if isinstance(message, Mapping) and message.get("role") == "user":
            text = _text(message.get("content"))
            if text and text.strip():
                found.append(text)
    return found


class TrainingFingerprints:
    """Collects prompt fingerprints while the validate step reads the training file."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def add_example(self, example: dict[str, Any]) -> None:
        """Malformed examples are ignored here; the validator reports them."""
        if isinstance(example, Mapping):
            self._seen.update(prompt_fingerprint(p) for p in training_prompts(example))

    @property
    def fingerprints(self) -> frozenset[int]:
        return frozenset(self._seen)

    def __len__(self) -> int:
        return len(self._seen)


def contaminated_sample_ids(suite: Suite, fingerprints: Iterable[int]) -> set[str]:
    """Samples whose prompt matches (normalised) a training prompt."""
    known = fingerprints if isinstance(fingerprints, set | frozenset) else set(fingerprints)
    if not known:
        return set()
    return {s.id for s in suite.samples if prompt_fingerprint(s.prompt) in known}
