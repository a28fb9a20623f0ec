"""Where a `make dev` / `make demo` stack listens and keeps its files.

Each setting comes from a command-line flag, else the environment (or `.env`), else the
default below; a port of 0 means a free one, picked at start. Two stacks on one machine
need different ports, run folders and database names (a benchmark or the test suite picks
free ports and databases of its own, so it never needs these).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from dotenv import dotenv_values

from scripts.stack.processes import REPO, free_port


@dataclass(frozen=True)
class StackConfig:
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    openai_emulator_port: int = 8010
    registry_emulator_port: int = 8003
    inference_server_port: int = 8004  # the self-hosted provider's vLLM stand-in
    run_dir: Path = REPO / ".run"  # logs, the Temporal store, the embedded PostgreSQL
    database_name: str = "model_trainer"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    def with_free_ports(self) -> StackConfig:
        """Ports given as 0 replaced by free ones."""

        def pick(port: int) -> int:
            return port or free_port()

        return replace(
            self,
            api_port=pick(self.api_port),
            temporal_port=pick(self.temporal_port),
            temporal_ui_port=pick(self.temporal_ui_port),
            openai_emulator_port=pick(self.openai_emulator_port),
            registry_emulator_port=pick(self.registry_emulator_port),
            inference_server_port=pick(self.inference_server_port),
        )


def env_name(field_name: str) -> str:
    """`api_port` -> `STACK_API_PORT`."""
    return f"STACK_{field_name.upper()}"


def flag_name(field_name: str) -> str:
    """`api_port` -> `--api-port`."""
    return "--" + field_name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; unset flags fall back to the environment."""
    for f in fields(StackConfig):
        kind = int if f.name.endswith("_port") else str
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            type=kind,
            default=None,
            metavar="N" if kind is int else "VALUE",
            help=f"default ${env_name(f.name)} or {f.default}",
        )


def configured_settings() -> dict[str, str]:
    """Non-empty settings from `.env` overlaid by the environment (the service's own order)."""
    values: dict[str, str] = {}
    env_file = REPO / ".env"
    if env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v})
    values.update({k: v for k, v in os.environ.items() if v})
    return values


def stack_config(
    configured: Mapping[str, str], flags: argparse.Namespace | None = None
) -> StackConfig:
    """The stack's config from flags, then `configured` (environment and `.env`)."""
    default = StackConfig()

    def lookup(name: str) -> str | None:
        raw = getattr(flags, name, None) if flags is not None else None
        return str(raw) if raw is not None else configured.get(env_name(name))

    def port(name: str) -> int:
        raw = lookup(name)
        if raw is None:
            return int(getattr(default, name))
        if not raw.isdigit() or int(raw) > 65535:
            raise SystemExit(f"{env_name(name)} must be a port number (0: a free one), not {raw!r}")
        return int(raw)

    run_dir = lookup("run_dir")
    config = StackConfig(
        api_port=port("api_port"),
        temporal_port=port("temporal_port"),
        temporal_ui_port=port("temporal_ui_port"),
        openai_emulator_port=port("openai_emulator_port"),
        registry_emulator_port=port("registry_emulator_port"),
        inference_server_port=port("inference_server_port"),
        run_dir=(REPO / run_dir).resolve() if run_dir else default.run_dir,
        database_name=lookup("database_name") or default.database_name,
    )
    return config.with_free_ports()
