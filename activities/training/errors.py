"""Why a training run can't go on, each with the failure code the trainer reports. Every
message is safe to show: it names lines or settings, never paths, traces or content."""

from __future__ import annotations

from activities.training.spec import FailureCode


class TrainerError(Exception):
    code: FailureCode = FailureCode.training_error


class ExampleError(TrainerError, ValueError):
    """The dataset can't be trained on."""

    code = FailureCode.invalid_dataset


class ChatTemplateError(TrainerError, ValueError):
    """The chat template gives no way to find the assistant's tokens."""

    code = FailureCode.unsupported_chat_template


class UnsupportedMethod(TrainerError):
    code = FailureCode.unsupported_method


class BaseModelUnreadable(TrainerError):
    """The base model's folder holds no loadable model or tokenizer."""

    code = FailureCode.base_model_unreadable


class CheckpointUnusable(TrainerError):
    """The checkpoint to resume from is missing or incomplete."""

    code = FailureCode.invalid_checkpoint
