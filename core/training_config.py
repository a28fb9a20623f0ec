"""Training settings for the self-hosted provider: LoRA on an open-weights base model.

OpenAI's settings are the contract's `TrainingConfig` (core/models.py); a job carries one
or the other, chosen by its provider. Unknown keys are refused (`extra="forbid"`) so a
setting meant for another provider never goes silently unused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.bounds import Seed
from core.json_types import JsonBool, JsonFloat, JsonInt
from core.models import TrainingMethod


class SelfHostedTrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: TrainingMethod = TrainingMethod.supervised
    lora_rank: JsonInt = Field(default=16, ge=1, le=256)
    lora_alpha: JsonInt = Field(default=32, ge=1, le=1024)
    lora_dropout: JsonFloat = Field(default=0.05, ge=0, le=0.5)
    # Module names of the base model to adapt, or every linear layer.
    lora_target_modules: list[str] | Literal["all-linear"] = Field(
        default="all-linear", max_length=64
    )
    learning_rate: JsonFloat = Field(default=2e-4, gt=0, le=1)
    n_epochs: JsonInt = Field(default=3, ge=1, le=20)
    # None: the base model's own limit from the catalogue.
    max_seq_length: JsonInt | None = Field(default=None, ge=16, le=131072)
    batch_size: JsonInt = Field(default=4, ge=1, le=256)
    gradient_accumulation_steps: JsonInt = Field(default=1, ge=1, le=256)
    packing: JsonBool = False
    seed: Seed | None = None
    # Stop after this many optimizer steps (smoke runs); None trains every epoch.
    max_steps: JsonInt | None = Field(default=None, ge=1, le=10_000_000)
