"""All in-memory state of one emulator instance, plus the fine-tuning business rules."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import catalogue
from .datasets import MIN_TRAINING_EXAMPLES, Example, parse_dataset
from .errors import APIError, invalid_request, missing_parameter, model_not_found
from .faults import openai_faults
from .files import FileStore, StoredFile
from .job_params import (
    JOB_CREATE_PARAMS,
    MAX_SUFFIX,
    method_and_hyperparameters,
    validate_metadata,
)
from .jobs import TERMINAL, Job, Timing
from .settings import EmulatorSettings
from .text import random_id, stable_int


class Emulator:
    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.time) -> None:
        self.initial_settings = settings
        self.settings = settings.model_copy()
        self._clock = clock
        self.clock_offset = 0.0
        self._last_now = 0.0
        self.files = FileStore()
        self.jobs: dict[str, Job] = {}
        self.faults = openai_faults()
        self.calls: Counter[str] = Counter()
        self.deleted_models: set[str] = set()
        # Indexes so a request costs the same with 5 jobs or 5,000 (benchmarks create many).
        self._job_by_model: dict[str, Job] = {}
        self._results_pending: dict[str, Job] = {}

    # ---- time ---------------------------------------------------------------------------

    def now(self) -> float:
        self._last_now = max(self._last_now, self._clock() + self.clock_offset)
        return self._last_now

    def tick(self) -> float:
        """Advance to the current time, materialising what finished jobs produced."""
        now = self.now()
        for job in list(self._results_pending.values()):
            if job.status(now) in ("failed", "cancelled"):
                del self._results_pending[job.id]
            elif job.status(now) == "succeeded":
                del self._results_pending[job.id]
                stored = self.files.add(
                    filename="step_metrics.csv",
                    purpose="fine-tune-results",
                    content=job.result_csv(),
                    created_at=int(job.finishes_at),
                )
                job.result_file_id = stored.id
        return now

    def reset(self) -> None:
        self.settings = self.initial_settings.model_copy()
        self.clock_offset = 0.0
        self.files.clear()
        self.jobs.clear()
        self.faults.clear()
        self.calls.clear()
        self.deleted_models.clear()
        self._job_by_model.clear()
        self._results_pending.clear()

    # ---- models -------------------------------------------------------------------------

    def fine_tuned_job(self, model: str, now: float) -> Job | None:
        job = self._job_by_model.get(model)
        if job is None or model in self.deleted_models or job.status(now) != "succeeded":
            return None
        return job

    def fine_tuned_models(self, now: float) -> dict[str, Job]:
        return {
            job.fine_tuned_model: job
            for job in self.jobs.values()
            if job.status(now) == "succeeded" and job.fine_tuned_model not in self.deleted_models
        }

    def _checkpoint_owner(self, model: str, now: float) -> Job | None:
        if ":ckpt-step-" not in model:
            return None
        for job in self.jobs.values():
            if model in job.visible_checkpoint_models(now):
                return job
        return None

    def model_object(self, model_id: str, now: float) -> dict[str, object]:
        base = catalogue.get_base_model(model_id)
        if base is not None:
            return catalogue.base_model_object(base, now)
        job = self.fine_tuned_job(model_id, now)
        if job is None:
            raise APIError(
                404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
            )
        return self._fine_tuned_object(job, now)

    def _fine_tuned_object(self, job: Job, now: float) -> dict[str, object]:
        root = catalogue.get_base_model(job.root_model)
        return catalogue.model_object(
            job.fine_tuned_model,
            int(job.finishes_at),
            catalogue.ORGANIZATION_ID,
            fine_tunable=True,
            shutdown=catalogue.shutdown_date(root, now) if root else None,
        )

    def list_models(self, now: float) -> list[dict[str, object]]:
        models = [catalogue.base_model_object(m, now) for m in catalogue.base_models()]
        models += [self._fine_tuned_object(j, now) for j in self.fine_tuned_models(now).values()]
        return models

    def delete_model(self, model_id: str, now: float) -> dict[str, object]:
        if catalogue.get_base_model(model_id) is not None:
            raise APIError(
                403,
                f"You do not have permission to delete the model '{model_id}'.",
                param="model",
            )
        if self.fine_tuned_job(model_id, now) is None:
            raise APIError(
                404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
            )
        self.deleted_models.add(model_id)
        return {"id": model_id, "object": "model", "deleted": True}

    def resolve_chat_model(self, model: str, now: float) -> tuple[str, Job | None]:
        """(model name to report, fine-tuning job whose data the model learnt, if any)."""
        base = catalogue.get_base_model(model)
        if base is not None:
            if base.kind != "chat":
                raise APIError(
                    404,
                    "This is not a chat model and thus not supported in the "
                    "v1/chat/completions endpoint.",
                    param="model",
                )
            return base.resolved_id, None
        job = self.fine_tuned_job(model, now) or self._checkpoint_owner(model, now)
        if job is None:
            raise model_not_found(model)
        return model, job

    # ---- fine-tuning jobs ---------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise APIError(404, f"Could not find fine-tune: {job_id}", param="fine_tune_id")
        return job

    def list_jobs(self) -> list[Job]:
        """Newest first."""
        indexed = list(enumerate(self.jobs.values()))
        indexed.sort(key=lambda pair: (pair[1].created, pair[0]), reverse=True)
        return [job for _, job in indexed]

    def _training_source(self, file_id: Any, param: str) -> StoredFile:
        if not isinstance(file_id, str) or not file_id:
            raise invalid_request(f"Invalid {param}: expected a file ID string.", param)
        stored = self.files.find(file_id)
        if stored is None:
            raise invalid_request(f"Invalid file ID: {file_id} (the file does not exist).", param)
        if stored.purpose != "fine-tune":
            raise invalid_request(
                f"File {file_id} has purpose '{stored.purpose}', but files used for "
                "fine-tuning must be uploaded with purpose 'fine-tune'.",
                param,
            )
        return stored

    def _resolve_base(self, model: str, now: float) -> tuple[str, str, list[Example]]:
        """(job.model, root base model, examples inherited from a fine-tuned parent)."""
        if model.startswith("ft:"):
            parent = self.fine_tuned_job(model, now)
            if parent is None:
                raise model_not_found(model)
            return model, parent.root_model, parent.answer_examples
        base = catalogue.get_base_model(model)
        if base is None:
            raise model_not_found(model)
        if not base.fine_tunable:
            raise APIError(
                400,
                f"Model {model} is not available for fine-tuning. Choose a model that "
                "supports fine-tuning.",
                param="model",
                code="model_not_available",
            )
        return base.resolved_id, base.resolved_id, []

    def create_job(self, body: dict[str, Any], now: float) -> Job:
        unknown = sorted(set(body) - JOB_CREATE_PARAMS)
        if unknown:
            raise invalid_request(f"Unrecognized request argument supplied: {unknown[0]}")
        model = body.get("model")
        if not model:
            raise missing_parameter("model")
        if not isinstance(model, str):
            raise invalid_request("Invalid type for 'model': expected a string.", "model")
        if not body.get("training_file"):
            raise missing_parameter("training_file")
        job_model, root_model, inherited = self._resolve_base(model, now)
        training = self._training_source(body["training_file"], "training_file")
        validation = None
        if body.get("validation_file") is not None:
            validation = self._training_source(body["validation_file"], "validation_file")
        method, requested = method_and_hyperparameters(body)
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > MAX_SUFFIX):
            raise invalid_request(
                f"Invalid suffix: must be a string of at most {MAX_SUFFIX} characters.", "suffix"
            )
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise invalid_request("Invalid type for 'seed': expected an integer.", "seed")
        metadata = validate_metadata(body.get("metadata"))

        dataset = parse_dataset(training.content, method, min_examples=MIN_TRAINING_EXAMPLES)
        validation_dataset = parse_dataset(validation.content, method) if validation else None
        error = None
        if dataset.error:
            error = {
                "code": "invalid_training_file",
                "message": f"The job failed due to an invalid training file. {dataset.error}",
                "param": "training_file",
            }
        elif validation_dataset is not None and validation_dataset.error:
            error = {
                "code": "invalid_validation_file",
                "message": "The job failed due to an invalid validation file. "
                f"{validation_dataset.error}",
                "param": "validation_file",
            }
        job_id = random_id("ftjob-", 24)
        job = Job(
            id=job_id,
            created=now,
            model=job_model,
            root_model=root_model,
            training_file=training.id,
            validation_file=validation.id if validation else None,
            method=method,
            requested=requested,
            suffix=suffix or None,
            seed=seed if seed is not None else stable_int(job_id, "seed"),
            metadata=metadata,
            dataset=dataset,
            validation_dataset=validation_dataset,
            timing=Timing(
                validation_seconds=self.settings.validation_seconds,
                queue_seconds=self.settings.queue_seconds,
                seconds_per_step=self.settings.seconds_per_step,
            ),
            max_steps=self.settings.max_steps,
            inherited_examples=list(inherited),
            validation_error=error,
        )
        self.jobs[job.id] = job
        self._job_by_model[job.fine_tuned_model] = job
        self._results_pending[job.id] = job
        return job

    def cancel_job(self, job_id: str, now: float) -> Job:
        job = self.get_job(job_id)
        job.cancel_calls += 1
        status = job.status(now)
        if status in TERMINAL:
            raise invalid_request(
                f"Job {job_id} has already {'been ' if status == 'cancelled' else ''}{status} "
                "and cannot be cancelled."
            )
        job.force("cancelled", now)
        return job

    def fail_job(self, job_id: str, now: float, error: dict[str, Any]) -> Job:
        job = self.get_job(job_id)
        status = job.status(now)
        if status in TERMINAL:
            raise invalid_request(f"Job {job_id} is already {status}.")
        job.force("failed", now, error)
        return job
