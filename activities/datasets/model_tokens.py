"""Exact token counts for a self-hosted base model: its own tokenizer and chat template.

Each example is rendered with the model's chat template (activities/datasets/chat_template.py)
and encoded with its `tokenizer.json` without added special tokens, which is what
transformers' `apply_chat_template(..., tokenize=True)` returns and what the trainer feeds
the model. A DPO record is two sequences, its input messages followed by each output.

Per example it reports every token of the rendered conversation (the GPU processes them all,
so the cost uses them) and, when the template marks the assistant's text with
`{% generation %}`, the tokens the loss is computed on (the trainer's assistant mask).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from tokenizers import Tokenizer

from activities.datasets.chat_template import ChatTemplate, RenderedChat


@dataclass(frozen=True, slots=True)
class ExampleTokens:
    """One example's tokens as its provider sees them."""

    tokens: int  # every token processed for the example (all its sequences)
    longest: int  # its longest single sequence: what a per-example limit applies to
    assistant: int | None = None  # tokens the loss is computed on, when known


@lru_cache(maxsize=8)
def _load_tokenizer(path: Path, mtime_ns: int) -> Tokenizer:
    del mtime_ns  # part of the cache key: a replaced file is read again
    return Tokenizer.from_file(str(path))


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """The model's fast tokenizer (cached: a large vocabulary takes a while to parse)."""
    path = (model_dir / "tokenizer.json").resolve()
    return _load_tokenizer(path, path.stat().st_mtime_ns)


class ModelTokenCounter:
    """Counts examples with one model's tokenizer and template; one per analysis (thread)."""

    def __init__(
        self, tokenizer: Tokenizer, template: ChatTemplate, fmt: Literal["chat", "dpo"]
    ) -> None:
        self._tokenizer = tokenizer
        self._template = template
        self._fmt = fmt

    def count(self, example: Mapping[str, Any]) -> ExampleTokens:
        """ChatTemplateFailed when the template cannot render the example."""
        if self._fmt == "dpo":
            source = example.get("input") or {}
            prompt = list(source.get("messages") or [])
            tools = source.get("tools")
            counts = [
                self._sequence([*prompt, *(example.get(key) or [])], tools)
                for key in ("preferred_output", "non_preferred_output")
            ]
        else:
            counts = [self._sequence(example.get("messages") or [], example.get("tools"))]
        assistant = [a for _, a in counts]
        return ExampleTokens(
            tokens=sum(t for t, _ in counts),
            longest=max(t for t, _ in counts),
            assistant=None if None in assistant else sum(a or 0 for a in assistant),
        )

    def _sequence(
        self, messages: Sequence[Mapping[str, Any]], tools: Any
    ) -> tuple[int, int | None]:
        rendered = self._template.render(messages, tools)
        return self.encode(rendered)

    def encode(self, rendered: RenderedChat) -> tuple[int, int | None]:
        """(all tokens, assistant tokens or None when the template marks no generation)."""
        encoding = self._tokenizer.encode(rendered.text, add_special_tokens=False)
        total = len(encoding.ids)
        if not rendered.generation_spans:
            return total, None
        # Token bounds of each span, as transformers builds `assistant_masks`; a token two
        # spans share is masked, and counted, once.
        bounds: list[tuple[int, int]] = []
        for start, end in rendered.generation_spans:
            first = encoding.char_to_token(start) if end > start else None
            if first is not None:
                last = encoding.char_to_token(end - 1)
                bounds.append((first, last if last is not None else total - 1))
        assistant, covered = 0, -1
        for first, last in sorted(bounds):
            if last > covered:
                assistant += last - max(first, covered + 1) + 1
                covered = last
        return total, assistant
