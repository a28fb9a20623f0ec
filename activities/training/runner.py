"""The parent side of the self-hosted trainer: run the training subprocess, pass each event
it reports to a coroutine, and make sure the process is gone when the call returns.

The child (`activities.training.sft_run`) runs in its own session, so its process group
holds everything it starts (torchrun's ranks, data loader workers) and one signal stops
them all. Its stderr (library warnings, a failure's trace) goes to `trainer.log` in the
output folder, never to this process's logs. Nothing here knows about Temporal or S3:
the caller heartbeats and uploads checkpoints from `on_event`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from activities.training.spec import (
    OFFLINE_ENV,
    PARENT_PID_ENV,
    SPEC_FILE,
    TRAINER_LOG_FILE,
    DoneEvent,
    FailedEvent,
    FailureCode,
    TrainerEvent,
    TrainerSpec,
    parse_event,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD_MODULE = "activities.training.sft_run"
# SIGTERM first, then SIGKILL if the group has not exited within this many seconds.
STOP_GRACE_SECONDS = 5.0
# An event line is small; anything longer than this is not one.
MAX_EVENT_LINE = 1 << 20
# glibc's malloc hands every large freed block back to the kernel until its thresholds
# adapt, so a fresh process page-faults its activations and gradients in again on every
# CPU step (measured: ~12 % of the tiny model's step time). Fixed thresholds keep up to
# 64 MiB of freed heap for reuse. Read at process start; a deployment's own value wins.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


class TrainingFailed(Exception):
    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


def trainer_command(spec_path: Path, *, python: str, gpus: int) -> list[str]:
    """The child's command line. With more than one GPU, `torchrun` starts one rank per
    GPU of this node (`--nproc-per-node N`, standalone rendezvous) and the Trainer runs
    data-parallel across them; only rank 0 writes events and saves the adapter. A
    multi-node trainer would replace this command (e.g. `torchrun --nnodes` with a
    rendezvous endpoint) behind the same spec and events."""
    if gpus <= 1:
        return [python, "-m", CHILD_MODULE, str(spec_path)]
    return [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
        "-m",
        CHILD_MODULE,
        str(spec_path),
    ]


def _child_env(gpus: int) -> dict[str, str]:
    env = {"GLIBC_TUNABLES": MALLOC_TUNABLES, **os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"}
    env.pop(PARENT_PID_ENV, None)
    if gpus <= 1:  # under torchrun the ranks' parent is torchrun
        env[PARENT_PID_ENV] = str(os.getpid())
    # The child imports this package by name, wherever the caller's working folder is.
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return env


async def run_trainer(
    spec: TrainerSpec,
    on_event: Callable[[TrainerEvent], Awaitable[None]],
    *,
    python: str = sys.executable,
    gpus: int = 1,
    on_start: Callable[[int], None] | None = None,
) -> DoneEvent:
    """Train as `spec` says in a subprocess and return its `done` event.

    `on_event` is awaited for every event, in order, `done` and `failed` included; while
    it runs the child keeps training but its next events wait. `on_start` gets the
    child's pid (its process group id too) once it has started. Raises `TrainingFailed`
    for a `failed` event, or for an exit without `done`. Cancelling the awaiting task, or
    an exception from `on_event`, stops the child's process group (SIGTERM, then SIGKILL
    after a few seconds) and waits for it before the exception goes on.

    The spec is written to `output_dir/spec.json` and the child's stderr appended to
    `output_dir/trainer.log`. `gpus` > 1 launches one rank per GPU with torchrun (see
    `trainer_command`); the events are rank 0's.
    """
    spec_path, log_fd = _prepare_output(spec)
    try:
        process = await asyncio.create_subprocess_exec(
            *trainer_command(spec_path, python=python, gpus=gpus),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_fd,
            cwd=REPO_ROOT,
            env=_child_env(gpus),
            start_new_session=True,
            limit=MAX_EVENT_LINE,
        )
    finally:
        os.close(log_fd)  # the child holds its own copy
    try:
        if on_start is not None:
            on_start(process.pid)
        outcome = await _relay_events(process, on_event)
        return_code = await process.wait()
    finally:
        await _stop_group(process)
    return _result(outcome, return_code)


def _prepare_output(spec: TrainerSpec) -> tuple[Path, int]:
    """Write the spec where the child reads it; open the log it appends to (kept across
    resumed runs in the same folder)."""
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    spec_path = spec.output_dir / SPEC_FILE
    spec_path.write_text(spec.model_dump_json(indent=2), encoding="utf-8")
    log_path = spec.output_dir / TRAINER_LOG_FILE
    return spec_path, os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


async def _relay_events(
    process: asyncio.subprocess.Process, on_event: Callable[[TrainerEvent], Awaitable[None]]
) -> DoneEvent | FailedEvent | None:
    assert process.stdout is not None
    outcome: DoneEvent | FailedEvent | None = None
    async for line in process.stdout:
        if not line.strip():
            continue
        try:
            event = parse_event(line)
        except ValidationError:
            continue  # not an event: the child writes nothing else here, torchrun might
        await on_event(event)
        if isinstance(event, DoneEvent | FailedEvent):
            outcome = event
    return outcome


def _result(outcome: DoneEvent | FailedEvent | None, return_code: int) -> DoneEvent:
    if isinstance(outcome, FailedEvent):
        raise TrainingFailed(outcome.code, outcome.message)
    if return_code != 0:
        raise TrainingFailed(FailureCode.trainer_crashed, _exit_description(return_code))
    if outcome is None:
        raise TrainingFailed(FailureCode.trainer_crashed, "the trainer exited without a result")
    return outcome


def _exit_description(return_code: int) -> str:
    if return_code < 0:
        try:
            name = signal.Signals(-return_code).name
        except ValueError:
            name = f"signal {-return_code}"
        return f"the trainer was killed by {name}"
    return f"the trainer exited with status {return_code}"


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    """Stop and reap the child and anything it started. Runs on every way out, so a
    second cancellation arriving meanwhile still ends in SIGKILL and a reaped child."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), STOP_GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            _signal_group(process.pid, signal.SIGKILL)
            await asyncio.shield(process.wait())
    # The child has exited; a rank or worker it left behind must not keep the GPU.
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty
