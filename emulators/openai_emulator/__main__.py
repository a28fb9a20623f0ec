"""``python -m emulators.openai_emulator --host 127.0.0.1 --port 8010``"""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .settings import EmulatorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.openai_emulator",
        description="Serve an in-memory emulation of the OpenAI REST API. Timing and auth "
        "settings come from OPENAI_EMULATOR_* environment variables.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(EmulatorSettings()), host=args.host, port=args.port, log_level=args.log_level
    )


if __name__ == "__main__":
    main()
