"""One supervised LoRA run with TRL's SFTTrainer, inside the training subprocess.

Loads the base model and tokenizer from local files only, wraps the model with a PEFT
LoRA config, trains on pre-tokenized examples (labels already masked to the assistant's
weighted tokens), reports every log and every saved checkpoint through `emit`, and saves
the adapter with its tokenizer and chat template. Imported only by `sft_run`, after the
dataset has been read, so a bad file fails before torch is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

from activities.training.errors import BaseModelUnreadable, CheckpointUnusable
from activities.training.examples import ChatExample, tokenize_examples
from activities.training.spec import (
    CheckpointEvent,
    DoneEvent,
    ProgressEvent,
    TrainerEvent,
    TrainerSpec,
)

DEFAULT_SEED = 42


class EventCallback(TrainerCallback):
    """Turns the trainer's logs and saves into events."""

    def __init__(self, emit: Callable[[TrainerEvent], None]) -> None:
        self._emit = emit
        self.last_loss: float | None = None
        self.trained_tokens: int | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        # The end-of-training summary (train_loss, train_runtime) has no "loss" and is skipped.
        if not logs or "loss" not in logs:
            return
        self.last_loss = float(logs["loss"])
        if "num_tokens" in logs:
            self.trained_tokens = int(logs["num_tokens"])
        accuracy = logs.get("mean_token_accuracy")
        self._emit(
            ProgressEvent(
                step=state.global_step,
                total_steps=state.max_steps,
                train_loss=self.last_loss,
                learning_rate=float(logs.get("learning_rate", 0.0)),
                epoch=float(logs.get("epoch", state.epoch or 0.0)),
                token_accuracy=None if accuracy is None else float(accuracy),
                trained_tokens=self.trained_tokens,
            )
        )

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # Called once the checkpoint folder is completely written.
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self._emit(CheckpointEvent(step=state.global_step, path=path.resolve()))


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_tokenizer(spec: TrainerSpec) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model_dir, local_files_only=True)
    except (OSError, ValueError):
        raise BaseModelUnreadable("the base model's tokenizer can't be loaded") from None
    if spec.chat_template is not None:
        tokenizer.chat_template = spec.chat_template  # saved with the adapter
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: TrainerSpec, device: str) -> Any:
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        return AutoModelForCausalLM.from_pretrained(
            spec.base_model_dir, local_files_only=True, dtype=dtype
        )
    except (OSError, ValueError):
        raise BaseModelUnreadable("the base model's weights can't be loaded") from None


def lora_config(spec: TrainerSpec) -> Any:
    config = spec.config
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def trainer_arguments(spec: TrainerSpec, device: str) -> dict[str, Any]:
    """The settings every method's TRL config shares: the job's config, checkpoints every
    `checkpoint_steps`, a log (and so an event) every step, no progress bars."""
    config = spec.config
    on_gpu = device == "cuda"
    return {
        "output_dir": str(spec.checkpoints_dir),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.n_epochs,
        "max_steps": config.max_steps or -1,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": spec.max_seq_length,
        "seed": DEFAULT_SEED if config.seed is None else config.seed,
        "save_strategy": "steps",
        "save_steps": spec.checkpoint_steps,
        "logging_strategy": "steps",
        "logging_steps": 1,
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": not on_gpu,
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        # Memory for speed: worth it on a GPU with a real model, not for a CPU run.
        "activation_checkpointing": on_gpu,
        "dataloader_num_workers": 0,
    }


def sft_config(spec: TrainerSpec, device: str) -> Any:
    return SFTConfig(
        **trainer_arguments(spec, device),
        packing=spec.config.packing,
        # The labels carry the assistant-only, weight-aware mask already.
        assistant_only_loss=False,
        completion_only_loss=False,
    )


def build_trainer(
    spec: TrainerSpec,
    examples: Sequence[ChatExample],
    callback: EventCallback,
    *,
    device: str,
) -> Any:
    tokenizer = load_tokenizer(spec)
    tokenized = tokenize_examples(
        tokenizer, examples, max_seq_length=spec.max_seq_length, chat_template=spec.chat_template
    )
    dataset = Dataset.from_list(
        [{"input_ids": item.input_ids, "labels": item.labels} for item in tokenized]
    )
    return SFTTrainer(
        model=load_model(spec, device),
        args=sft_config(spec, device),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(spec),
        callbacks=[callback],
    )


def checked_checkpoint(path: Path | None) -> str | None:
    if path is None:
        return None
    if not (path / "trainer_state.json").is_file():
        raise CheckpointUnusable("the checkpoint to resume from is missing or incomplete")
    return str(path)


def train(
    spec: TrainerSpec, examples: Sequence[ChatExample], emit: Callable[[TrainerEvent], None]
) -> DoneEvent:
    resume_from = checked_checkpoint(spec.resume_from_checkpoint)
    callback = EventCallback(emit)
    trainer = build_trainer(spec, examples, callback, device=resolve_device(spec.device))
    return finish(spec, trainer, callback, resume_from)


def finish(
    spec: TrainerSpec, trainer: Any, callback: EventCallback, resume_from: str | None
) -> DoneEvent:
    """Train to the end, save the adapter, tokenizer and chat template, and say so."""
    output = trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(str(spec.adapter_dir))
    metrics = output.metrics or {}
    return DoneEvent(
        adapter_dir=spec.adapter_dir.resolve(),
        steps=int(output.global_step),
        train_loss=callback.last_loss,
        mean_train_loss=metrics.get("train_loss"),
        trained_tokens=callback.trained_tokens,
        train_seconds=metrics.get("train_runtime"),
    )


def quiet_libraries() -> None:
    """No progress bars or info banners on stderr: the log keeps warnings and errors."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_warning()
    transformers.logging.disable_progress_bar()
