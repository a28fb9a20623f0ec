"""The `make dev` / `make demo` stack: everything as child processes logging to
`<run dir>/logs/<name>.log`, reusing what the environment points at."""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scripts.stack.auth import StackAuth, stack_auth
from scripts.stack.config import StackConfig
from scripts.stack.processes import (
    HOST,
    REPO,
    Child,
    StackError,
    emulator_argv,
    port_in_use,
    spawn,
    stop_all,
    uvicorn_argv,
)
from scripts.stack.self_hosted import (
    DEV_MODEL_NAME,
    build_dev_model,
    gpu_worker_argv,
    inference_server_argv,
    training_stack_installed,
    write_catalogue,
)
from scripts.stack.services import recreate_database, wait_for_http
from scripts.stack.temporal import temporal_argv, wait_for_temporal

JOB_FILE = REPO / "examples" / "job.json"
SELF_HOSTED_JOB_FILE = REPO / "examples" / "job-self-hosted.json"
EMULATOR_API_KEY = "sk-emulator"
POSTGRES_PROBE_TIMEOUT = 5.0  # seconds
API_HEALTH_TIMEOUT = 60.0


def say(message: str = "") -> None:
    print(message, flush=True)


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


def sample_tenant() -> str:
    return str(json.loads(JOB_FILE.read_text(encoding="utf-8"))["policy"]["scope"])


class DevStack:
    def __init__(self, configured: Mapping[str, str], config: StackConfig) -> None:
        self.configured = dict(configured)
        self.config = config
        self.children: list[Child] = []
        self.urls: list[tuple[str, str]] = []
        self.api_url = f"http://{HOST}:{config.api_port}"
        self.auth = StackAuth()
        # The environment the worker and API run with (the deployment's settings).
        self.service_env: dict[str, str] = {}
        self._pgserver: Any = None
        # The OpenAI emulator keeps files, jobs and models in memory: with it, jobs of an
        # earlier run point at models that no longer exist (a champion among them would
        # block every promotion). So a run with the emulator starts from a clean slate.
        self.sandbox = not (
            self.configured.get("OPENAI_API_KEY") or self.configured.get("OPENAI_API_KEY_FILE")
        )

    @property
    def log_dir_shown(self) -> str:
        log_dir = self.config.log_dir
        return str(log_dir.relative_to(REPO) if log_dir.is_relative_to(REPO) else log_dir)

    # ---- start ---------------------------------------------------------------------------

    async def start(self, *, self_hosted: bool = False) -> None:
        """Start the stack; `self_hosted` adds the self-hosted provider's part (a local
        base model, the inference server and a GPU worker)."""
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        say(f"Starting the Model Trainer stack (logs in {self.log_dir_shown}/)")
        self._require_free_port(self.config.api_port, "the API")
        if self.sandbox:
            say("  (OpenAI emulator: starting with a fresh database and Temporal store)")
        database_url = await self._postgres()
        temporal_address, namespace, ui_url = await self._temporal()
        openai_env = await self._openai()
        registry_url = await self._registry()
        self.auth = stack_auth(self.configured, sample_tenant())
        c = self.configured
        env = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": namespace,
            **({"TEMPORAL_UI_URL": ui_url} if ui_url else {}),
            "MODEL_REGISTRY_URL": registry_url,
            "DATASET_ROOT": c.get("DATASET_ROOT", str(REPO / "examples/datasets")),
            "PROVIDER_POLL_SECONDS": c.get("PROVIDER_POLL_SECONDS", "0.5"),
            "PROGRESS_REPORT_SECONDS": c.get("PROGRESS_REPORT_SECONDS", "5"),
            "PUBLIC_BASE_URL": c.get("PUBLIC_BASE_URL", self.api_url),
            **openai_env,
            **self.auth.env,
        }
        if self_hosted:
            env.update(await self._self_hosted())
        self.service_env = env
        await self._spawn("worker", [sys.executable, "worker.py"], env)
        if self_hosted:
            await self._spawn("gpu-worker", gpu_worker_argv(), {**env, **self._gpu_metrics_env()})
        api = await self._spawn(
            "api", uvicorn_argv("api.app:create_app", self.config.api_port), env
        )
        await wait_for_http(
            f"{self.api_url}/health", children=self.children, timeout=API_HEALTH_TIMEOUT
        )
        if not api.running:
            raise StackError(api.describe_exit())
        self.urls[:0] = [("API", self.api_url), ("API docs", f"{self.api_url}/docs")]
        say("Stack is up.")

    def _gpu_metrics_env(self) -> dict[str, str]:
        """On one machine the GPU worker exports its metrics two ports above the CPU
        worker's (9466 and 9467 by default); 0 stays off."""
        ports = {}
        for name, default in (("WORKER_METRICS_PORT", 9464), ("TEMPORAL_SDK_METRICS_PORT", 9465)):
            port = int(self.configured.get(name, default))
            ports[name] = str(port + 2 if port else 0)
        return ports

    async def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        log_path = self.config.log_dir / f"{name}.log"
        log_path.unlink(missing_ok=True)  # each run's log starts empty
        child = await spawn(name, argv, env=env, log_path=log_path)
        self.children.append(child)
        return child

    def _require_free_port(self, port: int, what: str) -> None:
        if port_in_use(port):
            raise StackError(
                f"port {port} for {what} is already in use: is another `make dev` running? "
                "Stop it, pick other ports (STACK_*_PORT, see the README), or point the "
                "stack at the running service through the environment."
            )

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
        local = f"postgresql://postgres@{HOST}:5432/{self.config.database_name}"
        prepare = recreate_database if self.sandbox else ensure_database
        try:
            await asyncio.wait_for(prepare(local), POSTGRES_PROBE_TIMEOUT)
        except (OSError, TimeoutError):
            return await self._embedded_postgres()
        except Exception as err:  # a server answered but refused us: say so, don't hide it
            raise StackError(
                f"PostgreSQL at {HOST}:5432 answered but cannot be used as user postgres "
                f"({type(err).__name__}: {err}); set DATABASE_URL"
            ) from None
        say(f"  PostgreSQL        {local} (local server)")
        self.urls.append(("PostgreSQL", local))
        return local

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
        pgdata = self.config.run_dir / "pgdata"
        say(f"  PostgreSQL        none at {HOST}:5432; starting an embedded one in {pgdata} ...")
        try:
            self._pgserver = await asyncio.to_thread(
                pgserver.get_server, pgdata, cleanup_mode="stop"
            )
        except Exception as err:
            raise StackError(
                f"the embedded PostgreSQL did not start ({type(err).__name__}: {err}); "
                f"its log is {pgdata / 'log'}"
            ) from None
        url = str(self._pgserver.get_uri(database=self.config.database_name))
        await (recreate_database if self.sandbox else ensure_database)(url)
        say(f"  PostgreSQL        {url} (embedded, pgserver)")
        self.urls.append(("PostgreSQL", url))
        return url

    async def _temporal(self) -> tuple[str, str, str | None]:
        namespace = self.configured.get("TEMPORAL_NAMESPACE", "default")
        address = self.configured.get("TEMPORAL_ADDRESS")
        if address:
            ui_url = self.configured.get("TEMPORAL_UI_URL")
            await wait_for_temporal(address, namespace)
            say(f"  Temporal          {address} namespace {namespace} (TEMPORAL_ADDRESS)")
        else:
            port, ui_port = self.config.temporal_port, self.config.temporal_ui_port
            for each in (port, ui_port):
                self._require_free_port(each, "the Temporal dev server")
            address, ui_url = f"{HOST}:{port}", f"http://{HOST}:{ui_port}"
            store = self.config.run_dir / "temporal.db"
            if self.sandbox:
                for path in (store, *(store.with_name(store.name + s) for s in ("-wal", "-shm"))):
                    path.unlink(missing_ok=True)
            argv = temporal_argv(port, ui_port=ui_port, db_file=store, namespace=namespace)
            child = await self._spawn("temporal", argv, {})
            await wait_for_temporal(address, namespace, child)
            say(f"  Temporal          {address} namespace {namespace} (dev server, UI {ui_url})")
        self.urls.append(("Temporal", f"{address} (namespace {namespace})"))
        if ui_url:
            self.urls.append(("Temporal UI", ui_url))
        return address, namespace, ui_url

    async def _openai(self) -> dict[str, str]:
        if not self.sandbox:
            base_url = self.configured.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
            say(f"  OpenAI            {base_url} (OPENAI_API_KEY is set)")
            self.urls.append(("OpenAI", base_url))
            return {}  # the children read the key (and base URL) themselves
        port = self.config.openai_emulator_port
        self._require_free_port(port, "the OpenAI emulator")
        seconds = self.configured.get("OPENAI_EMULATOR_SECONDS_PER_STEP", "0.15")
        env = {"OPENAI_EMULATOR_SECONDS_PER_STEP": seconds}
        child = await self._spawn(
            "openai-emulator", emulator_argv("emulators.openai_emulator", port), env
        )
        base_url = f"http://{HOST}:{port}/v1"
        await wait_for_http(f"{base_url}/models", children=[child])
        say(f"  OpenAI            {base_url} (emulator)")
        self.urls.append(("OpenAI emulator", base_url))
        # The emulator is not bound by OpenAI's fine-tuning cutoff.
        return {
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": EMULATOR_API_KEY,
            "OPENAI_FINE_TUNING_EXCEPTION": "true",
        }

    async def _registry(self) -> str:
        url = self.configured.get("MODEL_REGISTRY_URL")
        if url:
            say(f"  Model Registry    {url} (MODEL_REGISTRY_URL)")
            self.urls.append(("Model Registry", url))
            return url
        port = self.config.registry_emulator_port
        self._require_free_port(port, "the Model Registry emulator")
        child = await self._spawn(
            "registry-emulator", emulator_argv("emulators.registry_emulator", port), {}
        )
        url = f"http://{HOST}:{port}"
        await wait_for_http(f"{url}/health", children=[child])
        say(f"  Model Registry    {url} (emulator)")
        self.urls.append(("Registry emulator", f"{url}  (docs {url}/docs)"))
        return url

    async def _self_hosted(self) -> dict[str, str]:
        """The self-hosted provider's settings: the configured catalogue, artifact store and
        inference server, else a locally built tiny model, a folder, and the stand-in."""
        if not training_stack_installed():
            raise StackError(
                "the self-hosted provider needs the training extra: pip install -e '.[training]'"
            )
        c, run_dir = self.configured, self.config.run_dir
        catalogue = c.get("SELF_HOSTED_CATALOGUE_FILE")
        if catalogue is None:
            say(f"  Base model        building {DEV_MODEL_NAME} locally (a tiny random model) ...")
            model_dir = await asyncio.to_thread(build_dev_model, run_dir / "models")
            catalogue = str(
                write_catalogue(run_dir / "base-models.yaml", {DEV_MODEL_NAME: model_dir})
            )
        say(f"  Catalogue         {catalogue}")
        adapters = c.get("SELF_HOSTED_ADAPTER_DIR", str(run_dir / "served-adapters"))
        inference_url = c.get("SELF_HOSTED_INFERENCE_URL")
        if inference_url is None:
            port = self.config.inference_server_port
            self._require_free_port(port, "the inference server")
            argv = inference_server_argv(port, Path(catalogue), Path(adapters))
            child = await self._spawn("inference-server", argv, {})
            inference_url = f"http://{HOST}:{port}/v1"
            await wait_for_http(f"http://{HOST}:{port}/health", children=[child], timeout=120)
            say(f"  Inference server  {inference_url} (vLLM stand-in, CPU)")
        else:
            say(f"  Inference server  {inference_url} (SELF_HOSTED_INFERENCE_URL)")
        self.urls.append(("Inference server", inference_url))
        artifacts = c.get("ARTIFACT_STORE_URL", str(run_dir / "artifacts"))
        say(f"  Artifact store    {artifacts}")
        return {
            "SELF_HOSTED_CATALOGUE_FILE": catalogue,
            "SELF_HOSTED_INFERENCE_URL": inference_url,
            "SELF_HOSTED_ADAPTER_DIR": adapters,
            "ARTIFACT_STORE_URL": artifacts,
            "SELF_HOSTED_WORK_DIR": c.get("SELF_HOSTED_WORK_DIR", str(run_dir / "training")),
            "SELF_HOSTED_CHECKPOINT_STEPS": c.get("SELF_HOSTED_CHECKPOINT_STEPS", "10"),
        }

    # ---- watch and stop ------------------------------------------------------------------

    def check_children(self) -> None:
        for child in self.children:
            if not child.running:
                raise StackError(child.describe_exit())

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
        """Stop the API and worker first, then what they depend on (in reverse order)."""
        first = [c for c in self.children if c.name in ("api", "worker", "gpu-worker")]
        rest = [c for c in reversed(self.children) if c not in first]
        await stop_all(first, report=say)
        await stop_all(rest, report=say)
        if self._pgserver is not None:
            say("  stopping the embedded PostgreSQL")
            await asyncio.to_thread(self._pgserver.cleanup)
            self._pgserver = None
