"""Training settings per provider, and the union a job carries (no I/O here).

OpenAI's settings are the contract's `TrainingConfig`; the self-hosted provider's are LoRA
settings on an open-weights base model. Each model carries a `provider` tag so a workflow
payload decodes to the right one; a payload recorded before the tag existed has none and is
OpenAI's. At the API the job's own `provider` field chooses the model (`config_type_for`)
and the tag is neither documented nor sent back. Unknown keys are refused (`extra="forbid"`)
so a setting meant for another provider never goes silently unused.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from core.bounds import Seed
from core.json_types import IntegerOnly, JsonBool, JsonFloat, JsonInt

OPENAI_TAG = "openai"
SELF_HOSTED_TAG = "self_hosted"


class TrainingMethod(StrEnum):
    supervised = "supervised"
    dpo = "dpo"


class TrainingConfig(BaseModel):
    """The contract's `config`: OpenAI's hyperparameters (and the other hosted providers')."""

    model_config = ConfigDict(extra="forbid")

    provider: SkipJsonSchema[Literal["openai"]] = "openai"
    n_epochs: JsonInt = Field(default=3, ge=1, le=10)
    batch_size: JsonInt = Field(default=1, ge=1, le=32)
    learning_rate_multiplier: JsonFloat = Field(default=0.1, ge=0, le=2.0)
    method: TrainingMethod = TrainingMethod.supervised
    suffix: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    seed: Seed | None = None


# A module of the base model to adapt: `q_proj`, or a dotted path to one.
ModuleName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.]+$")
]
ModuleNames = Annotated[list[ModuleName], Field(min_length=1, max_length=64)]
ALL_LINEAR: Final = "all-linear"
_MODULE_NAMES: TypeAdapter[list[str]] = TypeAdapter(ModuleNames)


class SelfHostedTrainingConfig(BaseModel):
    """LoRA on a base model from the deployment's catalogue, trained on its own GPUs."""

    model_config = ConfigDict(extra="forbid")

    provider: SkipJsonSchema[Literal["self_hosted"]] = "self_hosted"
    method: TrainingMethod = TrainingMethod.supervised
    lora_rank: JsonInt = Field(default=16, ge=1, le=256)
    lora_alpha: JsonInt = Field(default=32, ge=1, le=1024)
    lora_dropout: JsonFloat = Field(default=0.05, ge=0, le=0.5)
    # Module names of the base model to adapt, or every linear layer.
    lora_target_modules: ModuleNames | Literal["all-linear"] = ALL_LINEAR
    learning_rate: JsonFloat = Field(default=2e-4, gt=0, le=1)
    n_epochs: JsonInt = Field(default=3, ge=1, le=20)
    # None: the base model's own limit from the catalogue.
    max_seq_length: Annotated[int, Field(ge=16, le=131072), IntegerOnly] | None = None
    batch_size: JsonInt = Field(default=4, ge=1, le=256)
    gradient_accumulation_steps: JsonInt = Field(default=1, ge=1, le=256)
    packing: JsonBool = False
    seed: Seed | None = None
    # Stop after this many optimizer steps (smoke runs); None trains every epoch.
    max_steps: Annotated[int, Field(ge=1, le=10_000_000), IntegerOnly] | None = None

    @field_validator("lora_target_modules", mode="wrap")
    @classmethod
    def _one_shape_of_modules(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> list[str] | Literal["all-linear"]:
        """Checked as the shape sent, so an error names the key (not a union member)."""
        del handler
        if isinstance(value, str):
            if value != ALL_LINEAR:
                raise PydanticCustomError(
                    "literal_error", "Input should be 'all-linear' or a list of module names"
                )
            return ALL_LINEAR
        return _MODULE_NAMES.validate_python(value)


def _config_tag(value: Any) -> str | None:
    """The payload's tag; none (a payload from before the tag) means OpenAI's config."""
    if isinstance(value, dict):
        tag = value.get("provider", OPENAI_TAG)
    else:
        tag = getattr(value, "provider", OPENAI_TAG)
    return tag if isinstance(tag, str) else None


# A job's training config as workflow payloads carry it.
AnyTrainingConfig = Annotated[
    Annotated[TrainingConfig, Tag(OPENAI_TAG)]
    | Annotated[SelfHostedTrainingConfig, Tag(SELF_HOSTED_TAG)],
    Discriminator(_config_tag),
]


def config_type_for(provider: str) -> type[TrainingConfig] | type[SelfHostedTrainingConfig]:
    """The config model a job of `provider` (the enum's value) is validated against: the
    self-hosted provider has its own, every other provider the contract's."""
    return SelfHostedTrainingConfig if provider == SELF_HOSTED_TAG else TrainingConfig


def epochs_of(config: TrainingConfig | SelfHostedTrainingConfig) -> int:
    """How many passes over the training data the job asks for, whichever provider."""
    return config.n_epochs


def stored_config(
    provider: str, data: Mapping[str, Any] | None
) -> TrainingConfig | SelfHostedTrainingConfig | None:
    """A job's config as stored (the JSON it was submitted with) read back as its provider's
    model; None when there is none or it no longer validates."""
    if not data:
        return None
    try:
        return config_type_for(provider).model_validate(dict(data))
    except ValidationError:
        return None
