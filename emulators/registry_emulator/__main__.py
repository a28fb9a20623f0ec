"""Run the Model Registry emulator: `python -m emulators.registry_emulator --port 8003`."""

from __future__ import annotations

import argparse

import uvicorn

from emulators.registry_emulator.app import create_app
from emulators.registry_emulator.settings import RegistryEmulatorSettings


def main(argv: list[str] | None = None) -> None:
    settings = RegistryEmulatorSettings()
    parser = argparse.ArgumentParser(
        prog="python -m emulators.registry_emulator",
        description="In-memory emulator of the Model Registry HTTP API.",
    )
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
