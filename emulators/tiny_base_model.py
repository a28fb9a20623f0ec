"""Build a tiny open-weights causal LM locally, with no download: a Qwen2-style config of a
few layers, random weights, and a byte-level BPE tokenizer trained on the given texts, with
a chat template. It is written as a Hugging Face model directory, so everything that loads a
catalogue's base model (the trainer, the inference server, the token counter) loads it the
same way it loads a real one. It trains in seconds on a CPU; it does not answer well.

Run `python -m emulators.tiny_base_model DIR [JSONL ...]` to write one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

# ChatML, as Qwen2 uses it. The `generation` markers let the trainer find the assistant's
# tokens (`return_assistant_tokens_mask`), so the loss counts only what the model says.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2's pre-tokenizer split: transformers loads a Qwen2 tokenizer with it whatever the
# file says, so the file must say the same for every reader to count alike.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
DEFAULT_VOCAB_SIZE = 512
DEFAULT_HIDDEN_SIZE = 64
DEFAULT_LAYERS = 2
MAX_POSITIONS = 512


def chat_texts(jsonl_files: Iterable[Path]) -> Iterator[str]:
    """Every message's content in chat JSONL files: the tokenizer's training corpus."""
    for path in jsonl_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            for message in record.get("messages", []):
                content = message.get("content")
                if isinstance(content, str):
                    yield content


def build_tiny_model(
    directory: Path,
    texts: Iterable[str],
    *,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    hidden_size: int = DEFAULT_HIDDEN_SIZE,
    layers: int = DEFAULT_LAYERS,
    seed: int = 0,
) -> Path:
    """Write a tokenizer and a randomly initialised Qwen2 model to `directory`."""
    # Heavy imports here: the module is imported by code that only needs the template.
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=MAX_POSITIONS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("jsonl", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    sources = args.jsonl or [Path("examples/datasets/tutor-k12-good.jsonl")]
    print(build_tiny_model(args.directory, chat_texts(sources)))


if __name__ == "__main__":
    main()
