"""What the self-hosted trainer is asked to do, and what it reports back.

The parent writes a `TrainerSpec` as JSON; the training subprocess reads it and writes one
`TrainerEvent` per line on its event channel. Both sides import only this module from the
package's typed surface, so the protocol has one definition.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from core.training_config import SelfHostedTrainingConfig

ADAPTER_FOLDER = "adapter"
CHECKPOINTS_FOLDER = "checkpoints"
SPEC_FILE = "spec.json"
TRAINER_LOG_FILE = "trainer.log"
# The training subprocess's environment: local files only, no progress bars.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
# Set by the parent when it starts the subprocess directly (not through torchrun).
PARENT_PID_ENV = "TRAINER_PARENT_PID"


class TrainerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A local Hugging Face model folder (config.json, weights, tokenizer files).
    base_model_dir: Path
    # None: the tokenizer's own chat template.
    chat_template: str | None = None
    # OpenAI chat JSONL: {"messages": [...]}, an assistant message may carry "weight": 0 or 1.
    dataset_path: Path
    # Gets spec.json, trainer.log, checkpoints/checkpoint-<step>/ and adapter/.
    output_dir: Path
    config: SelfHostedTrainingConfig
    max_seq_length: int = Field(ge=16)
    checkpoint_steps: int = Field(ge=1)
    resume_from_checkpoint: Path | None = None
    # "auto": the first CUDA device when there is one, else the CPU; or "cpu", "cuda".
    device: str = "auto"

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / ADAPTER_FOLDER

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / CHECKPOINTS_FOLDER


class FailureCode(StrEnum):
    invalid_dataset = "invalid_dataset"
    unsupported_method = "unsupported_method"
    unsupported_chat_template = "unsupported_chat_template"
    base_model_unreadable = "base_model_unreadable"
    invalid_checkpoint = "invalid_checkpoint"
    out_of_memory = "out_of_memory"
    cancelled = "cancelled"
    training_error = "training_error"
    # Set by the parent: the subprocess died or exited without saying why.
    trainer_crashed = "trainer_crashed"


class ProgressEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["progress"] = "progress"
    step: int
    total_steps: int
    train_loss: float
    learning_rate: float
    epoch: float
    # Share of trained tokens the model predicted right (TRL's mean_token_accuracy).
    token_accuracy: float | None = None
    # Tokens this run has processed so far (every input token, padding excluded); a
    # resumed run counts from its checkpoint, not from step 0.
    trained_tokens: int | None = None


class CheckpointEvent(BaseModel):
    """A checkpoint folder, fully written: it may be uploaded and later resumed from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["checkpoint"] = "checkpoint"
    step: int
    path: Path


class DoneEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["done"] = "done"
    # adapter_model.safetensors, adapter_config.json, the tokenizer and its chat template.
    adapter_dir: Path
    steps: int
    # The last logged loss; mean_train_loss averages every step of this run.
    train_loss: float | None
    mean_train_loss: float | None = None
    trained_tokens: int | None = None
    # Time inside the training loop, excluding start-up and model loading.
    train_seconds: float | None = None


class FailedEvent(BaseModel):
    """Why training stopped; the message is safe to show (no trace, no paths)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["failed"] = "failed"
    code: FailureCode
    message: str


TrainerEvent = Annotated[
    ProgressEvent | CheckpointEvent | DoneEvent | FailedEvent, Field(discriminator="kind")
]
TRAINER_EVENT: TypeAdapter[TrainerEvent] = TypeAdapter(TrainerEvent)


def parse_event(line: str | bytes) -> TrainerEvent:
    return TRAINER_EVENT.validate_json(line)
