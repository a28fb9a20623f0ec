"""Fine-tuning jobs whose lifecycle is a pure function of elapsed time.

Nothing runs in the background: every read evaluates the job's timeline at "now".
validating_files -> queued -> running (one step every `seconds_per_step`) -> succeeded,
unless validation fails, or the job is cancelled / forced to fail on the way.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from .catalogue import ORGANIZATION_ID, ORGANIZATION_SLUG
from .datasets import Dataset, Example
from .text import stable_id, stable_int

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
AUTO_N_EPOCHS = 3
AUTO_BATCH_SIZE = 1
AUTO_LEARNING_RATE_MULTIPLIER = 1.8
AUTO_BETA = 0.1
CHECKPOINTS_KEPT = 3


@dataclass(frozen=True)
class Timing:
    validation_seconds: float
    queue_seconds: float
    seconds_per_step: float


@dataclass
class Event:
    key: str
    at: float
    message: str
    level: str = "info"
    type: str = "message"
    data: dict[str, Any] | None = None


@dataclass
class Job:
    id: str
    created: float
    model: str
    root_model: str
    training_file: str
    validation_file: str | None
    method: str
    requested: dict[str, Any]
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    dataset: Dataset
    validation_dataset: Dataset | None
    timing: Timing
    max_steps: int
    inherited_examples: list[Example] = field(default_factory=list)
    validation_error: dict[str, str] | None = None
    forced_status: str | None = None
    forced_at: float | None = None
    forced_error: dict[str, Any] | None = None
    cancel_calls: int = 0
    result_file_id: str | None = None

    # ---- derived schedule -------------------------------------------------------------

    @property
    def n_epochs(self) -> int:
        value = self.requested.get("n_epochs", "auto")
        return AUTO_N_EPOCHS if value == "auto" else int(value)

    @property
    def batch_size(self) -> int:
        value = self.requested.get("batch_size", "auto")
        return AUTO_BATCH_SIZE if value == "auto" else int(value)

    @property
    def learning_rate_multiplier(self) -> float:
        value = self.requested.get("learning_rate_multiplier", "auto")
        return AUTO_LEARNING_RATE_MULTIPLIER if value == "auto" else float(value)

    @property
    def beta(self) -> float:
        value = self.requested.get("beta", "auto")
        return AUTO_BETA if value == "auto" else float(value)

    @property
    def total_steps(self) -> int:
        wanted = math.ceil(self.dataset.n_examples * self.n_epochs / self.batch_size)
        return max(1, min(self.max_steps, wanted))

    @property
    def validated_at(self) -> float:
        return self.created + self.timing.validation_seconds

    @property
    def started_at(self) -> float:
        return self.validated_at + self.timing.queue_seconds

    @property
    def finishes_at(self) -> float:
        return self.started_at + self.total_steps * self.timing.seconds_per_step

    def step_at(self, step: int) -> float:
        return self.started_at + step * self.timing.seconds_per_step

    @property
    def natural_end(self) -> float:
        return self.validated_at if self.validation_error else self.finishes_at

    @property
    def end_time(self) -> float:
        if self.forced_at is not None:
            return min(self.forced_at, self.natural_end)
        return self.natural_end

    @property
    def fine_tuned_model(self) -> str:
        short = stable_id("", self.id, "model", length=8)
        return f"ft:{self.root_model}:{ORGANIZATION_SLUG}:{self.suffix or ''}:{short}"

    @property
    def answer_examples(self) -> list[Example]:
        return [*self.inherited_examples, *self.dataset.examples]

    @property
    def trained_tokens(self) -> int:
        return int(self.dataset.tokens * self.n_epochs)

    def checkpoint_model(self, step: int) -> str:
        return f"{self.fine_tuned_model}:ckpt-step-{step}"

    # ---- state at a point in time -------------------------------------------------

    def status(self, now: float) -> str:
        if self.forced_status is not None and self.forced_at is not None:
            if self.forced_at <= self.natural_end and now >= self.forced_at:
                return self.forced_status
        if now < self.validated_at:
            return "validating_files"
        if self.validation_error:
            return "failed"
        if now < self.started_at:
            return "queued"
        if now < self.finishes_at:
            return "running"
        return "succeeded"

    def force(self, status: str, now: float, error: dict[str, Any] | None = None) -> None:
        self.forced_status = status
        self.forced_at = now
        self.forced_error = error

    def error(self, now: float) -> dict[str, Any] | None:
        status = self.status(now)
        if status != "failed":
            return None
        if self.forced_status == "failed" and self.forced_error is not None:
            return self.forced_error
        return self.validation_error

    # ---- metrics ----------------------------------------------------------------------

    def metrics(self, step: int) -> dict[str, float | int]:
        total = self.total_steps
        rng = random.Random(stable_int(self.id, "metrics", step))
        progress = step / total
        base = 0.22 + 1.9 * math.exp(-4.0 * progress)
        train_loss = max(0.01, base + rng.uniform(-0.08, 0.08) * (1.2 - progress))
        train_acc = min(0.99, max(0.05, 1.0 - train_loss / 2.6 + rng.uniform(-0.02, 0.02)))
        data: dict[str, float | int] = {
            "step": step,
            "total_steps": total,
            "train_loss": round(train_loss, 4),
            "train_mean_token_accuracy": round(train_acc, 4),
        }
        if self.validation_dataset is not None:
            valid_loss = max(0.01, base * 1.07 + 0.03 + rng.uniform(-0.06, 0.06))
            valid_acc = min(0.99, max(0.05, 1.0 - valid_loss / 2.6 + rng.uniform(-0.02, 0.02)))
            data["valid_loss"] = round(valid_loss, 4)
            data["valid_mean_token_accuracy"] = round(valid_acc, 4)
        return data

    def checkpoint_steps(self) -> list[int]:
        total, epochs = self.total_steps, self.n_epochs
        steps = sorted({max(1, math.ceil(e * total / epochs)) for e in range(1, epochs + 1)})
        return steps[-CHECKPOINTS_KEPT:]

    def result_csv(self) -> bytes:
        lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for step in range(1, self.total_steps + 1):
            m = self.metrics(step)
            lines.append(
                ",".join(
                    str(v)
                    for v in (
                        m["step"],
                        m["train_loss"],
                        m["train_mean_token_accuracy"],
                        m.get("valid_loss", ""),
                        m.get("valid_mean_token_accuracy", ""),
                    )
                )
            )
        return ("\n".join(lines) + "\n").encode()

    # ---- events -----------------------------------------------------------------------

    def _timeline(self) -> list[Event]:
        files = f"Validating training file: {self.training_file}"
        if self.validation_file:
            files += f" and validation file: {self.validation_file}"
        events = [
            Event("created", self.created, f"Created fine-tuning job: {self.id}"),
            Event("validating", self.created, files),
        ]
        if self.validation_error:
            events.append(
                Event("failed", self.validated_at, self.validation_error["message"], "error")
            )
            return events
        events.append(
            Event("validated", self.validated_at, "Files validated, moving job to queued state")
        )
        events.append(Event("started", self.started_at, "Fine-tuning job started"))
        total = self.total_steps
        checkpoints = set(self.checkpoint_steps())
        for step in range(1, total + 1):
            data = self.metrics(step)
            message = f"Step {step}/{total}: training loss={data['train_loss']:.3f}"
            if "valid_loss" in data:
                message += f", validation loss={data['valid_loss']:.3f}"
            events.append(
                Event(f"step-{step}", self.step_at(step), message, "info", "metrics", data)
            )
            if step in checkpoints:
                events.append(
                    Event(
                        f"checkpoint-{step}",
                        self.step_at(step),
                        f"Checkpoint created at step {step}",
                    )
                )
        events.append(Event("model", self.finishes_at, "New fine-tuned model created"))
        events.append(Event("succeeded", self.finishes_at, "The job has successfully completed"))
        return events

    def events(self, now: float) -> list[Event]:
        """Events visible at `now`, oldest first."""
        horizon = min(now, self.end_time)
        visible = [e for e in self._timeline() if e.at <= horizon]
        status = self.status(now)
        if self.forced_at is not None and status == self.forced_status:
            if status == "cancelled":
                visible.append(Event("cancelled", self.forced_at, "Fine-tuning job cancelled"))
            else:
                message = (self.forced_error or {}).get("message") or "The job failed."
                visible.append(Event("forced-failed", self.forced_at, message, "error"))
        return visible

    def event_to_api(self, event: Event) -> dict[str, Any]:
        return {
            "id": stable_id("ftevent-", self.id, event.key),
            "object": "fine_tuning.job.event",
            "created_at": int(event.at),
            "level": event.level,
            "message": event.message,
            "data": event.data if event.data is not None else {},
            "type": event.type,
        }

    # ---- checkpoints ------------------------------------------------------------------

    def checkpoints(self, now: float) -> list[dict[str, Any]]:
        """Checkpoints visible at `now`, oldest first."""
        if self.validation_error:
            return []
        horizon = min(now, self.end_time)
        result = []
        for step in self.checkpoint_steps():
            at = self.step_at(step)
            if at > horizon:
                continue
            m = self.metrics(step)
            metrics: dict[str, float | None] = {
                "step": float(step),
                "train_loss": m["train_loss"],
                "train_mean_token_accuracy": m["train_mean_token_accuracy"],
                "valid_loss": m.get("valid_loss"),
                "valid_mean_token_accuracy": m.get("valid_mean_token_accuracy"),
                "full_valid_loss": m.get("valid_loss"),
                "full_valid_mean_token_accuracy": m.get("valid_mean_token_accuracy"),
            }
            result.append(
                {
                    "id": stable_id("ftckpt_", self.id, step),
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": int(at),
                    "fine_tuned_model_checkpoint": self.checkpoint_model(step),
                    "fine_tuning_job_id": self.id,
                    "metrics": metrics,
                    "step_number": step,
                }
            )
        return result

    def visible_checkpoint_models(self, now: float) -> dict[str, int]:
        return {c["fine_tuned_model_checkpoint"]: c["step_number"] for c in self.checkpoints(now)}

    # ---- wire format ------------------------------------------------------------------

    def hyperparameters(self, now: float) -> dict[str, Any]:
        resolved = self.validation_error is None and min(now, self.end_time) >= self.validated_at
        if resolved:
            values: dict[str, Any] = {
                "batch_size": self.batch_size,
                "learning_rate_multiplier": self.learning_rate_multiplier,
                "n_epochs": self.n_epochs,
            }
            if self.method == "dpo":
                values["beta"] = self.beta
        else:
            keys = ["batch_size", "learning_rate_multiplier", "n_epochs"]
            if self.method == "dpo":
                keys.append("beta")
            values = {k: self.requested.get(k, "auto") for k in keys}
        return values

    def to_api(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        hyperparameters = self.hyperparameters(now)
        top_level = {k: v for k, v in hyperparameters.items() if k != "beta"}
        succeeded = status == "succeeded"
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": int(self.created),
            "error": self.error(now),
            "estimated_finish": math.ceil(self.finishes_at) if status == "running" else None,
            "fine_tuned_model": self.fine_tuned_model if succeeded else None,
            "finished_at": int(self.end_time) if status in TERMINAL else None,
            "hyperparameters": top_level,
            "integrations": [],
            "metadata": self.metadata,
            "method": {"type": self.method, self.method: {"hyperparameters": hyperparameters}},
            "model": self.model,
            "organization_id": ORGANIZATION_ID,
            "result_files": [self.result_file_id] if succeeded and self.result_file_id else [],
            "seed": self.seed,
            "status": status,
            "trained_tokens": self.trained_tokens if succeeded else None,
            "training_file": self.training_file,
            "user_provided_suffix": self.suffix,
            "validation_file": self.validation_file,
        }
