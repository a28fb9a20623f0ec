"""The self-hosted trainer: TRL's SFTTrainer (or DPOTrainer for `method: dpo`) with a PEFT
LoRA adapter, run in a subprocess.

`run_trainer(spec, on_event)` (runner.py) starts `python -m activities.training.sft_run`,
relays its `TrainerEvent`s (spec.py) and returns its `DoneEvent`. This package knows
nothing of Temporal or the artifact store; the activity around it does. Importing it is
cheap: torch, transformers and TRL load in the subprocess only.
"""

from activities.training.runner import TrainingFailed, run_trainer
from activities.training.spec import (
    CheckpointEvent,
    DoneEvent,
    FailedEvent,
    FailureCode,
    ProgressEvent,
    TrainerEvent,
    TrainerSpec,
)

__all__ = [
    "CheckpointEvent",
    "DoneEvent",
    "FailedEvent",
    "FailureCode",
    "ProgressEvent",
    "TrainerEvent",
    "TrainerSpec",
    "TrainingFailed",
    "run_trainer",
]
