"""The training subprocess: `python -m activities.training.sft_run SPEC.json`.

It reads a `TrainerSpec`, trains, and writes `TrainerEvent`s as JSON lines on the stdout
it was started with. That descriptor is taken for events alone before anything else runs:
file descriptor 1 (and so `print`, library banners and C-level writes) is pointed at
stderr, so nothing a library prints can corrupt the protocol. Under `torchrun` every rank
runs this module and only rank 0 writes events.

Exit status: 0 after `done`; 1 after `failed`; 143 when stopped by SIGTERM (a `failed`
event with code `cancelled` is written first when there is time). SIGTERM interrupts
whatever is running (loading, a training step) at once: the process exists to be
stopped, and a checkpoint being written when it arrives is never announced, so never used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import TextIO

from activities.training.errors import TrainerError, UnsupportedMethod
from activities.training.examples import read_examples
from activities.training.spec import (
    OFFLINE_ENV,
    PARENT_PID_ENV,
    FailedEvent,
    FailureCode,
    TrainerEvent,
    TrainerSpec,
)
from core.models import TrainingMethod

EXIT_FAILED = 1
_PR_SET_PDEATHSIG = 1
EXIT_CANCELLED = 128 + signal.SIGTERM


class Cancelled(BaseException):
    """Raised by the SIGTERM handler; a BaseException so no library `except Exception`
    swallows it."""


class EventWriter:
    """Writes events on the descriptor that was stdout at start; a no-op off rank 0."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    @classmethod
    def take_stdout(cls, *, emits: bool) -> EventWriter:
        sys.stdout.flush()
        events_fd = os.dup(1)
        os.dup2(2, 1)
        if not emits:
            os.close(events_fd)
            return cls(None)
        return cls(os.fdopen(events_fd, "w", buffering=1, encoding="utf-8"))

    def emit(self, event: TrainerEvent) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(event.model_dump_json() + "\n")
            self._stream.flush()
        except OSError:  # the parent is gone: nobody will use what this run makes
            self._stream = None
            raise Cancelled from None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once is a request to stop; a second SIGTERM (during the way out) ends the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Cancelled


def stop_with_parent() -> None:
    """On Linux, SIGTERM this process when its parent dies: a GPU worker killed with
    SIGKILL must not leave training running on the GPU it gave up."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = os.environ.get(PARENT_PID_ENV)
    if parent and os.getppid() != int(parent):
        raise Cancelled  # the parent died before the request above took effect


def failure_event(error: BaseException) -> FailedEvent:
    """A code and a message safe to show: no trace, no paths, no dataset content."""
    if isinstance(error, Cancelled):
        return FailedEvent(code=FailureCode.cancelled, message="training was cancelled")
    if isinstance(error, TrainerError):
        return FailedEvent(code=error.code, message=str(error))
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return FailedEvent(
            code=FailureCode.out_of_memory,
            message="training ran out of memory; lower batch_size or max_seq_length",
        )
    return FailedEvent(
        code=FailureCode.training_error, message=f"training failed ({type(error).__name__})"
    )


def load_spec(args: list[str]) -> TrainerSpec:
    if len(args) != 1:
        raise TrainerError("usage: python -m activities.training.sft_run SPEC.json")
    try:
        return TrainerSpec.model_validate_json(Path(args[0]).read_bytes())
    except (OSError, ValueError):
        raise TrainerError("the trainer's spec can't be read or is not valid") from None


def run(spec: TrainerSpec, events: EventWriter) -> None:
    # Each method reads its dataset before torch is imported: a bad file fails fast.
    if spec.config.method is TrainingMethod.supervised:
        examples = read_examples(spec.dataset_path)
        from activities.training.sft_training import quiet_libraries, train

        quiet_libraries()
        events.emit(train(spec, examples, events.emit))
    elif spec.config.method is TrainingMethod.dpo:
        from activities.training.preferences import read_preferences

        rows = read_preferences(spec.dataset_path)
        from activities.training.dpo_training import train_dpo
        from activities.training.sft_training import quiet_libraries

        quiet_libraries()
        events.emit(train_dpo(spec, rows, events.emit))
    else:
        raise UnsupportedMethod(
            f"{spec.config.method.value} is not supported by the self-hosted trainer yet"
        )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    events = EventWriter.take_stdout(emits=int(os.environ.get("RANK", "0")) == 0)
    signal.signal(signal.SIGTERM, _on_sigterm)
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    try:
        stop_with_parent()
        run(load_spec(args), events)
    except Cancelled as cancelled:
        with contextlib.suppress(Cancelled):  # a parent that is gone hears nothing
            events.emit(failure_event(cancelled))
        return EXIT_CANCELLED
    except BaseException as error:  # every failure becomes an event; the trace goes to stderr
        traceback.print_exc()
        with contextlib.suppress(Cancelled):
            events.emit(failure_event(error))
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
