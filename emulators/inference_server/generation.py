"""One chat completion: the prompt from the model's chat template, its length checks, and
the generation itself (blocking: the app runs it in a thread)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ServingError, bad_request, model_not_found
from .models import ServedBaseModel
from .schemas import ChatCompletionRequest

# vLLM treats a temperature this small as greedy decoding.
GREEDY_BELOW = 1e-5


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stops: list[str]

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


@dataclass(frozen=True)
class Generated:
    text: str
    completion_tokens: int
    finish_reason: Literal["stop", "length"]
    stop_reason: str | None


def prompt_token_ids(base: ServedBaseModel, request: ChatCompletionRequest) -> list[int]:
    """The chat template's rendering with the assistant's turn opened, tokenized as vLLM
    does for chat (no extra special tokens: the template holds them)."""
    messages = [{"role": message.role, "content": message.text()} for message in request.messages]
    try:
        text = base.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:
        if any(cls.__name__ == "TemplateError" for cls in type(exc).__mro__):
            raise bad_request(f"The chat template refused the messages: {exc}") from None
        raise
    ids: list[int] = base.tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def sampling_for(
    request: ChatCompletionRequest, prompt_tokens: int, max_model_len: int, limit: int
) -> Sampling:
    """Check the request's lengths against the model and this server, as 400s."""
    if prompt_tokens >= max_model_len:
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {prompt_tokens} input tokens. Please reduce the length of the "
            "input messages.",
            param="messages",
        )
    requested = request.requested_max_tokens()
    param = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
    if requested is not None and requested > limit:
        raise bad_request(
            f"{param} must be at most {limit} on this server, got {requested}.", param=param
        )
    if requested is not None and prompt_tokens + requested > max_model_len:
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {prompt_tokens + requested} tokens ({prompt_tokens} in the messages, "
            f"{requested} in the completion). Please reduce the length of the messages or "
            "completion.",
            param=param,
        )
    max_new_tokens = requested or min(limit, max_model_len - prompt_tokens)
    return Sampling(
        max_new_tokens=max_new_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed,
        stops=request.stop_strings(),
    )


def generate(
    base: ServedBaseModel,
    adapter: str | None,
    prompt_ids: list[int],
    sampling: Sampling,
    lock: threading.Lock,
) -> Generated:
    import torch
    from transformers import GenerationConfig

    tokenizer = base.tokenizer
    eos_ids = _eos_token_ids(base)
    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=not sampling.greedy,
        eos_token_id=sorted(eos_ids),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids),
    )
    if not sampling.greedy:
        # top_k=0: no top-k cut, as vLLM's default.
        config.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    extra: dict[str, Any] = {}
    if sampling.stops:
        extra = {"stop_strings": sampling.stops, "tokenizer": tokenizer}
    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    with lock:
        model, scope = _select(base, adapter)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with scope, torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                **extra,
            )
    new_ids: list[int] = output[0, len(prompt_ids) :].tolist()
    return _finish(tokenizer, new_ids, eos_ids, sampling)


def _select(base: ServedBaseModel, adapter: str | None) -> tuple[Any, AbstractContextManager[Any]]:
    """The model to call and the scope to call it in. Called under the lock: the adapter
    may have been unloaded since the request was routed."""
    if base.peft is None:
        if adapter is not None:
            raise model_not_found(adapter)
        return base.model, nullcontext()
    if adapter is None:
        # The LoRA layers sit inside the base model's modules: switch them off.
        return base.peft, base.peft.disable_adapter()
    if adapter not in base.peft.peft_config:
        raise model_not_found(adapter)
    base.peft.set_adapter(adapter)
    return base.peft, nullcontext()


def _eos_token_ids(base: ServedBaseModel) -> set[int]:
    ids: set[int] = set()
    configured = base.model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(token) for token in configured)
    if base.tokenizer.eos_token_id is not None:
        ids.add(int(base.tokenizer.eos_token_id))
    if not ids:
        raise ServingError("The model names no end-of-sequence token.")
    return ids


def _finish(tokenizer: Any, new_ids: list[int], eos_ids: set[int], sampling: Sampling) -> Generated:
    ended_by_eos = bool(new_ids) and new_ids[-1] in eos_ids
    text: str = tokenizer.decode(new_ids, skip_special_tokens=True)
    cut = [(text.find(stop), stop) for stop in sampling.stops if stop in text]
    if cut:
        position, stop = min(cut)
        return Generated(text[:position], len(new_ids), "stop", stop)
    if ended_by_eos or len(new_ids) < sampling.max_new_tokens:
        return Generated(text, len(new_ids), "stop", None)
    return Generated(text, len(new_ids), "length", None)
