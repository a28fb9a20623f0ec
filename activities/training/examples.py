"""Chat examples as the trainer sees them: token ids and labels where only the assistant's
tokens count, except an assistant message with `"weight": 0` (the OpenAI format's way to
keep a turn as context without training on it).

The tokenizer's chat template renders each example once. A template with `{% generation %}`
markers gives the assistant mask directly; the mask's runs are the assistant messages in
order, so a weight-0 message clears its run. A template without markers is rendered
prefix by prefix instead, which works for every template whose rendering of a conversation
starts with the rendering of its beginning. No heavy imports: the tokenizer is passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.training.errors import ChatTemplateError, ExampleError

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy (and so TRL) skips
_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX where the token is not trained on

    @property
    def trained_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


@dataclass(frozen=True)
class ChatExample:
    line: int
    messages: list[dict[str, Any]]  # as the template sees them: no "weight"
    weights: list[int]  # one per message; 0 for everything not trained on
    tools: list[Any] | None = None


def read_examples(path: Path) -> list[ChatExample]:
    """Parse OpenAI chat JSONL, checking only what the tokenizer and the mask rely on."""
    examples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise ExampleError("the dataset file can't be read as UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            examples.append(_parse_line(number, line))
    if not examples:
        raise ExampleError("the dataset has no examples")
    return examples


def _parse_line(number: int, line: str) -> ChatExample:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise ExampleError(f"line {number}: not valid JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise ExampleError(f"line {number}: expected an object with a 'messages' list")
    messages, weights = [], []
    for message in record["messages"]:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ExampleError(f"line {number}: every message needs a 'role'")
        weight = message.get("weight", 1)
        if message["role"] != "assistant":
            weight = 0
        elif weight not in (0, 1) or isinstance(weight, bool):
            raise ExampleError(f"line {number}: an assistant 'weight' must be 0 or 1")
        messages.append({key: value for key, value in message.items() if key != "weight"})
        weights.append(weight)
    tools = record.get("tools")
    return ChatExample(number, messages, weights, tools if isinstance(tools, list) else None)


def tokenize_examples(
    tokenizer: Any,
    examples: Sequence[ChatExample],
    *,
    max_seq_length: int,
    chat_template: str | None = None,
) -> list[TokenizedExample]:
    """Every example that keeps a trained token within `max_seq_length` (the rest drop)."""
    template = chat_template if chat_template is not None else tokenizer.chat_template
    if not template:
        raise ChatTemplateError("the base model's tokenizer has no chat template")
    kept = []
    for example in examples:
        tokenized = tokenize_example(tokenizer, example, template, max_seq_length)
        if tokenized.trained_tokens:
            kept.append(tokenized)
    if not kept:
        raise ExampleError(
            "no example has an assistant token to train on within the maximum sequence length"
        )
    return kept


def tokenize_example(
    tokenizer: Any, example: ChatExample, template: str, max_seq_length: int
) -> TokenizedExample:
    if _has_generation_markers(template):
        input_ids, trained = _masked_by_markers(tokenizer, example, template)
    else:
        input_ids, trained = _masked_by_prefixes(tokenizer, example, template)
    labels = [
        token if keep else IGNORE_INDEX for token, keep in zip(input_ids, trained, strict=True)
    ]
    return TokenizedExample(input_ids[:max_seq_length], labels[:max_seq_length])


def _has_generation_markers(template: str) -> bool:
    return _GENERATION_MARKER.search(template) is not None


def _render(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    example: ChatExample,
    template: str,
    **options: Any,
) -> Any:
    return tokenizer.apply_chat_template(
        messages,
        tools=example.tools,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        **options,
    )


def _masked_by_markers(
    tokenizer: Any, example: ChatExample, template: str
) -> tuple[list[int], list[bool]]:
    rendered = _render(
        tokenizer, example.messages, example, template, return_assistant_tokens_mask=True
    )
    input_ids = list(rendered["input_ids"])
    mask = [bool(bit) for bit in rendered["assistant_masks"]]
    assistant_weights = [
        weight
        for message, weight in zip(example.messages, example.weights, strict=True)
        if message["role"] == "assistant"
    ]
    if all(assistant_weights):
        return input_ids, mask
    runs = list(_runs(mask))
    if len(runs) != len(assistant_weights):
        # The template renders some assistant turns without a generation block (or joins
        # two); the prefix method can still tell them apart.
        return _masked_by_prefixes(tokenizer, example, template)
    for (start, end), weight in zip(runs, assistant_weights, strict=True):
        if not weight:
            mask[start:end] = [False] * (end - start)
    return input_ids, mask


def _runs(mask: Sequence[bool]) -> Iterator[tuple[int, int]]:
    start = None
    for index, bit in enumerate(mask):
        if bit and start is None:
            start = index
        elif not bit and start is not None:
            yield start, index
            start = None
    if start is not None:
        yield start, len(mask)


def _masked_by_prefixes(
    tokenizer: Any, example: ChatExample, template: str
) -> tuple[list[int], list[bool]]:
    """Each trained assistant message spans from the end of the conversation before it
    (with the assistant's header) to the end of the conversation through it."""
    input_ids = list(_render(tokenizer, example.messages, example, template)["input_ids"])
    mask = [False] * len(input_ids)
    for index, weight in enumerate(example.weights):
        if not weight:
            continue
        before = list(
            _render(
                tokenizer, example.messages[:index], example, template, add_generation_prompt=True
            )["input_ids"]
        )
        through = list(
            _render(tokenizer, example.messages[: index + 1], example, template)["input_ids"]
        )
        if through[: len(before)] != before or input_ids[: len(through)] != through:
            raise ChatTemplateError(
                "the chat template has no {% generation %} markers and renders a conversation "
                "differently from its beginning, so the assistant's tokens can't be found"
            )
        mask[len(before) : len(through)] = [True] * (len(through) - len(before))
    return input_ids, mask
