"""Servers that a fault scenario may stop and start again: a throwaway PostgreSQL cluster,
a Temporal dev server on a persisted SQLite store, and the emulators as processes.

Everything lives in one temporary folder, on ports the caller picks, so it never touches a
shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
from pathlib import Path

from scripts.stack import EmulatorProcess, TemporalDevServer, wait_for_port

__all__ = ["EmulatorProcess", "Postgres", "TemporalServer", "stop_quietly", "wait_for_port"]


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {output.decode(errors='replace')}")


class Postgres:
    """A cluster of our own (initdb + pg_ctl), trust auth, on 127.0.0.1:`port`."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "pgdata"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        found = shutil.which("pg_ctl")
        bin_dir = Path(found).parent if found else Path(bins[-1]) if bins else None
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin = bin_dir

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, tool: str, *args: str) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the postgres user then.
        argv = [str(self.bin / tool), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    async def start(self) -> None:
        if not self.data.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
                self.root.parent.chmod(0o755)  # let the postgres user reach its folder
            await _run(
                *self._as_owner(
                    "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
                )
            )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        await _run(
            *self._as_owner(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                options,
                "-w",
                "start",
            )
        )

    async def stop(self, mode: str = "fast") -> None:
        """`fast` closes every session (a restart); `immediate` is a crash."""
        await _run(*self._as_owner("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"))


class TemporalServer(TemporalDevServer):
    """A headless dev server on `port` whose SQLite store in `root` outlives the process."""

    def __init__(self, root: Path, port: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(
            port=port,
            db_file=root / "temporal.db",
            log_path=root / "temporal.log",
            log_level="error",
        )


async def stop_quietly(*servers: Postgres | TemporalServer | EmulatorProcess) -> None:
    for server in servers:
        with contextlib.suppress(Exception):
            await server.stop()
