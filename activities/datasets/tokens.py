"""Token counting for training examples, with encodings that never download.

tiktoken fetches its BPE rank files from the network on first use, and nothing may download
at run time here. So the two encodings OpenAI's fine-tunable models use are vendored in
`encodings/` (gzip of OpenAI's published `.tiktoken` files) and turned into a
`tiktoken.Encoding` directly: the sha256 of the decompressed file must equal the hash
tiktoken itself pins in `tiktoken_ext/openai_public.py`, and the split pattern and special
tokens are copied from there (tests check all three against the installed tiktoken). See
`encodings/README.md` for provenance, licence and how production provisions the files.

Per-example counts follow OpenAI's cookbook for chat fine-tuning data: 3 tokens per message
plus the tokens of each string field (role, content, name, ...), 1 more for a `name`, and 3
for priming the reply. The cookbook has no rule for tools, calls or images; see
`example_texts` for the rough count used there.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import tiktoken

EncodingName = Literal["o200k_base", "cl100k_base"]

VENDORED_DIR = Path(__file__).with_name("encodings")

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# Rough flat cost per image part: the provider's count depends on the image's size, which
# we do not fetch. 85 is the base charge of one low-detail image tile.
TOKENS_PER_IMAGE = 85


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    name: EncodingName
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

ENCODINGS: dict[EncodingName, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT,
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": EncodingSpec(
        name="o200k_base",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PAT,
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

# Model-name prefix -> encoding; the longest matching prefix wins ("gpt-4o" over "gpt-4").
MODEL_PREFIX_ENCODINGS: dict[str, EncodingName] = {
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    "gpt-4": "cl100k_base",
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    "gpt-4o": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
}
# Every model OpenAI has released since gpt-4o uses o200k_base, so an unknown name gets it.
DEFAULT_ENCODING: EncodingName = "o200k_base"


class EncodingFileError(RuntimeError):
    """An encoding file is missing or is not the file OpenAI published."""


def base_model_family(base_model: str) -> str:
    """The base model of a name: `ft:gpt-4o-mini-2024-07-18:org::id` -> `gpt-4o-mini-...`."""
    if base_model.startswith("ft:"):
        return base_model[3:].split(":", 1)[0]
    return base_model


def encoding_name_for_model(base_model: str) -> EncodingName:
    name = base_model_family(base_model)
    matches = [p for p in MODEL_PREFIX_ENCODINGS if name.startswith(p)]
    if not matches:
        return DEFAULT_ENCODING
    return MODEL_PREFIX_ENCODINGS[max(matches, key=len)]


def encoding_for_model(base_model: str, directory: Path | None = None) -> tiktoken.Encoding:
    return load_encoding(encoding_name_for_model(base_model), directory)


@lru_cache(maxsize=8)
def load_encoding(name: EncodingName, directory: Path | None = None) -> tiktoken.Encoding:
    """Build the encoding from `<directory>/<name>.tiktoken[.gz]` (default: the vendored copy).

    Cached: the rank table is ~200k entries and takes a few hundred ms to parse.
    """
    spec = ENCODINGS[name]
    data = _read_rank_file(directory or VENDORED_DIR, name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise EncodingFileError(
            f"{name}: sha256 {actual} does not match the published {spec.sha256}"
        )
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=parse_rank_file(data),
        special_tokens=dict(spec.special_tokens),
    )


def parse_rank_file(data: bytes) -> dict[bytes, int]:
    """The `.tiktoken` format: one `base64(token) rank` pair per line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _read_rank_file(directory: Path, name: str) -> bytes:
    plain = directory / f"{name}.tiktoken"
    packed = directory / f"{name}.tiktoken.gz"
    if plain.is_file():
        return plain.read_bytes()
    if packed.is_file():
        return gzip.decompress(packed.read_bytes())
    raise EncodingFileError(f"{name}: neither {plain} nor {packed} exists")


@dataclass(slots=True)
class ExampleTexts:
    """What one example costs: strings to encode plus tokens counted without encoding."""

    texts: list[str]
    fixed_tokens: int = 0


def example_texts(example: Mapping[str, Any], fmt: Literal["chat", "dpo"]) -> ExampleTexts:
    """The strings whose tokens make up an example (a validated record), cookbook style.

    Rough parts, beyond the cookbook: tool and function definitions count as their compact
    JSON text; a tool call counts as its function name and argument string; an image part
    as TOKENS_PER_IMAGE. A DPO record counts its input messages plus both outputs, each
    output primed as a reply.
    """
    out = ExampleTexts([])
    if fmt == "dpo":
        source = example.get("input") or {}
        _add_messages(out, source.get("messages") or [])
        _add_definitions(out, source)
        for key in ("preferred_output", "non_preferred_output"):
            _add_messages(out, example.get(key) or [])
            out.fixed_tokens += REPLY_PRIMING_TOKENS
        return out
    _add_messages(out, example.get("messages") or [])
    _add_definitions(out, example)
    out.fixed_tokens += REPLY_PRIMING_TOKENS
    return out


def _add_messages(out: ExampleTexts, messages: list[Any]) -> None:
    texts = out.texts
    for message in messages:
        if not isinstance(message, dict):
            continue
        out.fixed_tokens += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "weight":
                continue  # a training flag, not text the model sees
            if isinstance(value, str):
                texts.append(value)
                if key == "name":
                    out.fixed_tokens += TOKENS_PER_NAME
            elif key == "content" and isinstance(value, list):
                _add_parts(out, value)
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    if isinstance(call, dict):
                        _add_function(out, call.get("function"))
            elif key == "function_call":
                _add_function(out, value)


def _add_parts(out: ExampleTexts, parts: list[Any]) -> None:
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key in ("text", "refusal"):
            value = part.get(key)
            if isinstance(value, str):
                out.texts.append(value)
        if part.get("type") == "image_url":
            out.fixed_tokens += TOKENS_PER_IMAGE


def _add_function(out: ExampleTexts, fn: Any) -> None:
    if isinstance(fn, dict):
        out.texts.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))


def _add_definitions(out: ExampleTexts, holder: Mapping[str, Any]) -> None:
    for key in ("tools", "functions"):
        value = holder.get(key)
        if value:
            out.texts.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


class TokenCounter:
    """Counts examples' tokens, remembering the counts of texts that repeat.

    Roles and system prompts recur in nearly every example; the memo answers them without
    encoding. It keeps the first `memo_entries` distinct texts of at most `memo_chars`
    characters (about 4 MB at most) and never evicts, so a file of unique texts costs one
    dict lookup per text.

    Counted on the calling thread: tiktoken releases the GIL while it encodes, but a worker
    thread has to win the GIL back from the CPU-bound parsing thread after every call,
    which measured slower here than encoding inline (bench/README-validator.md).
    """

    def __init__(
        self, encoding: tiktoken.Encoding, *, memo_entries: int = 1024, memo_chars: int = 4096
    ) -> None:
        self.encoding = encoding
        self._encode = encoding.encode_ordinary
        self._memo: dict[str, int] = {}
        self._memo_entries = memo_entries
        self._memo_chars = memo_chars

    def count(self, parts: ExampleTexts) -> int:
        memo = self._memo
        total = parts.fixed_tokens
        for text in parts.texts:
            known = memo.get(text)
            if known is None:
                known = len(self._encode(text))
                if len(text) <= self._memo_chars and len(memo) < self._memo_entries:
                    memo[text] = known
            total += known
        return total


def count_example_tokens(
    encoding: tiktoken.Encoding, example: Mapping[str, Any], fmt: Literal["chat", "dpo"]
) -> int:
    encode = encoding.encode_ordinary
    parts = example_texts(example, fmt)
    return parts.fixed_tokens + sum(len(encode(t)) for t in parts.texts)
