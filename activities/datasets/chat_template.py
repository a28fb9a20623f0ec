"""A base model's chat template, rendered the way Hugging Face transformers renders it, with
no transformers (the CPU worker has neither it nor torch).

transformers compiles a template in jinja2's ImmutableSandboxedEnvironment with
`trim_blocks` and `lstrip_blocks`, the `loopcontrols` extension, a `tojson` filter that does
not escape HTML, `raise_exception` and `strftime_now`, and a `{% generation %}` tag marking
the text the assistant says (`return_assistant_tokens_mask`). This module does the same, and
records where each generation block lands in the output, so a counter can tell the tokens
the loss is computed on from the rest. The variables are transformers' too: `messages`,
`tools`, `documents`, `add_generation_prompt` and the tokenizer's named special tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The named special tokens transformers hands every template (its `special_tokens_map`).
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class ChatTemplateMissing(Exception):
    """Neither the catalogue nor the model's folder has a chat template."""


class ChatTemplateFailed(Exception):
    """The template could not render one example; the message is safe to show."""


@dataclass(slots=True)
class RenderedChat:
    text: str
    # (start, end) character offsets of each `{% generation %}` block's output.
    generation_spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class _RenderState:
    length: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)


class GenerationTracker(Extension):
    """`{% generation %}...{% endgeneration %}`: renders its body, noting where it went."""

    tags = {"generation"}

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.state: _RenderState | None = None

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_generation", [])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _generation(self, caller: Macro) -> str:
        text: str = caller()
        state = self.state
        if state is not None:
            # Everything before this block has been yielded and counted (see `render`).
            state.spans.append((state.length, state.length + len(text)))
        return text


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatTemplate:
    """One compiled template. Not thread-safe: give each thread (each analysis) its own."""

    def __init__(self, source: str, special_tokens: Mapping[str, str] | None = None) -> None:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, loopcontrols]
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        tracker = env.extensions[GenerationTracker.identifier]
        assert isinstance(tracker, GenerationTracker)
        self._tracker = tracker
        self._template = env.from_string(source)
        self._special_tokens = dict(special_tokens or {})

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Any = None,
        *,
        add_generation_prompt: bool = False,
    ) -> RenderedChat:
        """The conversation as the model sees it; ChatTemplateFailed when the template refuses.

        Keys whose value is None are dropped from each message, as transformers does.
        """
        chat = [{k: v for k, v in m.items() if v is not None} for m in messages]
        state = _RenderState()
        blocks: list[str] = []
        self._tracker.state = state
        try:
            for block in self._template.generate(
                **self._special_tokens,
                messages=chat,
                tools=tools,
                documents=None,
                add_generation_prompt=add_generation_prompt,
            ):
                blocks.append(block)
                state.length += len(block)
        except jinja2.exceptions.TemplateError as err:
            reason = str(err.message or type(err).__name__)[:200]
            raise ChatTemplateFailed(f"the chat template refused the example: {reason}") from None
        except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError) as err:
            raise ChatTemplateFailed(
                f"the chat template failed on the example ({type(err).__name__})"
            ) from None
        finally:
            self._tracker.state = None
        return RenderedChat("".join(blocks), state.spans)


def template_source(catalogue_template: str | None, model_dir: Path) -> str:
    """The catalogue's template, else the model folder's (chat_template.jinja, then
    tokenizer_config.json's `chat_template`: a string, or a list whose `default` is used)."""
    if catalogue_template:
        return catalogue_template
    jinja_file = model_dir / "chat_template.jinja"
    if jinja_file.is_file():
        return jinja_file.read_text(encoding="utf-8")
    configured = tokenizer_config(model_dir).get("chat_template")
    if isinstance(configured, str) and configured:
        return configured
    if isinstance(configured, list):
        named = {t.get("name"): t.get("template") for t in configured if isinstance(t, dict)}
        default = named.get("default")
        if isinstance(default, str) and default:
            return default
    raise ChatTemplateMissing("the base model has no chat template")


def tokenizer_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "tokenizer_config.json"
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def special_tokens(config: Mapping[str, Any]) -> dict[str, str]:
    """The named special tokens of a tokenizer_config.json (a string or an AddedToken dict)."""
    found: dict[str, str] = {}
    for name in SPECIAL_TOKEN_NAMES:
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            found[name] = value
    return found
