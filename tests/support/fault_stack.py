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
import signal
import socket
import sys
from pathlib import Path

from workflows.search_attributes import ALL_KEYS

REPO = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def wait_for_port(port: int, *, open_: bool = True, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while _port_open(port) != open_:
        if asyncio.get_running_loop().time() > deadline:
            state = "accepting" if open_ else "closed"
            raise RuntimeError(f"port {port} not {state} after {timeout}s")
        await asyncio.sleep(0.1)


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {output.decode(errors='replace')}")


async def _stop(proc: asyncio.subprocess.Process | None, grace: float = 10.0) -> None:
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


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


class TemporalServer:
    """`temporal server start-dev` on a SQLite file that outlives the process."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: asyncio.subprocess.Process | None = None
        self.log = root / "temporal.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        binary = shutil.which("temporal", path=str(Path(sys.executable).parent)) or "temporal"
        args = [
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.port + 1),
            "--metrics-port",
            str(self.port + 2),
            "--db-filename",
            str(self.root / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--log-level",
            "error",
        ]
        for key in ALL_KEYS:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(*args, stdout=log, stderr=log)
        await wait_for_port(self.port)

    async def stop(self) -> None:
        await _stop(self.proc)
        await wait_for_port(self.port, open_=False)


class EmulatorProcess:
    """`python -m emulators.<module>` on a fixed port (its state is lost when it stops)."""

    def __init__(
        self, module: str, port: int, env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.module, self.port, self.env, self.log = module, port, env or {}, log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        argv = [sys.executable, "-m", self.module, "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        env = {**os.environ, **self.env}
        if self.log is None:
            self.proc = await asyncio.create_subprocess_exec(*argv, cwd=REPO, env=env)
        else:
            with self.log.open("ab") as out:
                self.proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=REPO, env=env, stdout=out, stderr=out
                )
        await wait_for_port(self.port)

    async def stop(self) -> None:
        await _stop(self.proc)
        await wait_for_port(self.port, open_=False)


async def stop_quietly(*servers: Postgres | TemporalServer | EmulatorProcess) -> None:
    for server in servers:
        with contextlib.suppress(Exception):
            await server.stop()
