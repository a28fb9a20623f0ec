"""Direct preference optimisation with TRL's DPOTrainer and the same LoRA adapter, inside
the training subprocess.

The OpenAI preference format, `{"input": {"messages": [...]}, "preferred_output":
[assistant message], "non_preferred_output": [assistant message]}`, becomes TRL's
conversational preference rows (`prompt`, `chosen`, `rejected`). With a PEFT model TRL
needs no second copy of the base model: the reference is the model with its adapter off.
Events, checkpoints, resume and the saved adapter are the supervised run's.
"""

from __future__ import annotations

from collections.abc import Callable

from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from activities.training.preferences import PreferenceRow
from activities.training.sft_training import (
    EventCallback,
    checked_checkpoint,
    finish,
    load_model,
    load_tokenizer,
    lora_config,
    resolve_device,
    trainer_arguments,
)
from activities.training.spec import DoneEvent, TrainerEvent, TrainerSpec


def train_dpo(
    spec: TrainerSpec, rows: list[PreferenceRow], emit: Callable[[TrainerEvent], None]
) -> DoneEvent:
    resume_from = checked_checkpoint(spec.resume_from_checkpoint)
    device = resolve_device(spec.device)
    callback = EventCallback(emit)
    trainer = DPOTrainer(
        model=load_model(spec, device),
        args=DPOConfig(**trainer_arguments(spec, device)),
        train_dataset=Dataset.from_list(rows),
        processing_class=load_tokenizer(spec),
        peft_config=lora_config(spec),
        callbacks=[callback],
    )
    return finish(spec, trainer, callback, resume_from)
