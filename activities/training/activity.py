"""The self-hosted training step: one long activity on the GPU task queue.

It fetches the validated dataset from the artifact store, runs the trainer in a subprocess
(activities/training/runner.py) and turns what the trainer reports into the job's events,
metric points and progress, exactly as the OpenAI wait step records OpenAI's events.

- Heartbeats carry the last checkpoint uploaded to the artifact store (and the latest
  step's loss, for the Temporal UI). When a GPU worker
  dies, Temporal's heartbeat timeout hands the step to another one, which resumes from that
  checkpoint instead of from step 0.
- Cancelling the step (REST, signal or `temporal workflow cancel`) reaches it with the next
  heartbeat; the runner then stops the trainer and frees the GPU.
- The adapter goes to one key per job, and its manifest last: a retry after the manifest
  was written trains nothing and returns the same adapter, so a job ends with exactly one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.training import artifact_keys as keys
from activities.training.deps import TrainingDeps
from activities.training.reporting import TrainingReporter
from activities.training.results import adapter_result, existing_adapter, store_adapter
from activities.training.runner import TrainingFailed, run_trainer
from activities.training.spec import CheckpointEvent, DoneEvent, TrainerEvent, TrainerSpec
from core.base_model_files import BaseModelFilesMissing, local_model_dir
from core.metrics import timed_step
from core.training_steps import TrainAdapterInput, TrainAdapterResult, TrainingCheckpoint

logger = logging.getLogger(__name__)

# How often the step heartbeats at most; the GPU worker sends each beat at once (its
# heartbeat throttle is as short), so a cancellation reaches the trainer within seconds.
HEARTBEAT_EVERY_SECONDS = 1.0


class TrainingActivities:
    def __init__(self, deps: TrainingDeps) -> None:
        self._deps = deps

    @activity.defn(name="train_adapter")
    @timed_step
    async def train_adapter(self, inp: TrainAdapterInput) -> TrainAdapterResult:
        deps = self._deps
        done = await existing_adapter(deps, inp)
        if done is not None:  # an earlier attempt finished: nothing more to train
            return done
        model = deps.catalogue.model(inp.base_model)
        if model is None:
            raise _final("base_model_unknown", f"baseModel '{inp.base_model}' left the catalogue")
        try:
            base_dir = local_model_dir(model, deps.settings.self_hosted_hf_cache_dir)
        except BaseModelFilesMissing as err:
            raise _final("base_model_files_missing", str(err)) from None
        work = deps.settings.self_hosted_work_dir / inp.job_id
        shutil.rmtree(work, ignore_errors=True)  # a dead attempt's leftovers on this node
        work.mkdir(parents=True)
        try:
            dataset = work / "train.jsonl"
            await deps.artifacts.get_file(deps.artifacts.key_of(inp.dataset_uri), dataset)
            resume = await self._resume_point(inp, work)
            spec = TrainerSpec(
                base_model_dir=base_dir,
                chat_template=model.chat_template,
                dataset_path=dataset,
                output_dir=work / "run",
                config=inp.config,
                max_seq_length=min(
                    inp.config.max_seq_length or model.max_seq_length, model.max_seq_length
                ),
                checkpoint_steps=deps.settings.self_hosted_checkpoint_steps,
                resume_from_checkpoint=resume[1] if resume else None,
            )
            reporter = TrainingReporter(deps.pool, inp.job_id, activity.info().attempt)
            if resume:
                await reporter.resumed(resume[0])
            started = time.monotonic()
            gpus = deps.catalogue.pool_for(model).gpus_per_worker
            finished = await self._train(inp, spec, reporter, resume[0] if resume else None, gpus)
            manifest = await store_adapter(
                deps, inp, model, finished, dataset, reporter.loss_curve()
            )
            gpu_seconds = time.monotonic() - started
        finally:
            shutil.rmtree(work, ignore_errors=True)
        await reporter.finished(finished)
        return await adapter_result(deps, inp, model, manifest, gpu_seconds)

    async def _resume_point(
        self, inp: TrainAdapterInput, work: Path
    ) -> tuple[TrainingCheckpoint, Path] | None:
        """The checkpoint an earlier attempt heartbeated, fetched to this node."""
        details = activity.info().heartbeat_details
        if not details or details[0] is None:
            return None
        checkpoint = TrainingCheckpoint.model_validate(details[0])
        local = work / "resume" / f"checkpoint-{checkpoint.step}"
        await self._deps.artifacts.get_directory(self._deps.artifacts.key_of(checkpoint.uri), local)
        logger.info("resuming training from checkpoint at step %d", checkpoint.step)
        return checkpoint, local

    async def _train(
        self,
        inp: TrainAdapterInput,
        spec: TrainerSpec,
        reporter: TrainingReporter,
        resumed_from: TrainingCheckpoint | None,
        gpus: int,
    ) -> DoneEvent:
        last: list[TrainingCheckpoint] = [resumed_from] if resumed_from else []
        uploads: list[asyncio.Task[None]] = []

        async def upload(event: CheckpointEvent) -> None:
            prefix = keys.checkpoint_prefix(inp.tenant_id, inp.job_id, event.step)
            await self._deps.artifacts.put_directory(prefix, Path(event.path))
            # Only a checkpoint wholly in the store may be resumed from.
            if not last or last[-1].step < event.step:
                last.append(
                    TrainingCheckpoint(step=event.step, uri=self._deps.artifacts.uri(prefix))
                )
            await reporter.checkpoint_saved(last[-1])

        async def on_event(event: TrainerEvent) -> None:
            if isinstance(event, CheckpointEvent):
                # Uploaded while training goes on; the trainer never waits for the store.
                uploads.append(asyncio.create_task(upload(event)))
            else:
                await reporter.report(event)

        beats = asyncio.create_task(_heartbeat(last, reporter))
        try:
            # Several GPUs per worker: the runner launches the trainer through torchrun.
            finished = await run_trainer(spec, on_event, gpus=gpus)
            await asyncio.gather(*uploads)
            return finished
        except TrainingFailed as err:
            raise _final(err.code, err.message) from None
        finally:
            beats.cancel()
            for task in uploads:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats


async def _heartbeat(last: list[TrainingCheckpoint], reporter: TrainingReporter) -> None:
    """Beat with the newest uploaded checkpoint (what a retried attempt resumes from) and
    the latest step's figures, which the Temporal UI shows on the pending activity."""
    while True:
        checkpoint = last[-1].model_dump(mode="json") if last else None
        activity.heartbeat(checkpoint, reporter.latest_progress())
        await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)


def _final(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)
