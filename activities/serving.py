"""Serving a self-hosted adapter for evaluation: load it into the inference server.

vLLM's OpenAI-compatible server (started with `--enable-lora` and
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`) loads an adapter at run time through
`POST /v1/load_lora_adapter {"lora_name", "lora_path"}`, after which the evaluation calls
it under `lora_name` through the same SDK path as any model. `lora_path` is a folder the
server reads: the adapter is copied from the artifact store into `self_hosted_adapter_dir`
(a volume both the CPU worker and the server see), or, with no such folder configured,
the artifact URI itself is sent for a server that resolves it (vLLM's LoRA resolver
plugins).

The step is safe to repeat: the copy is staged beside its place and renamed into it, and
reused when it holds the same files; an adapter the server already loaded under that
name counts as served.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import uuid
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.artifacts.store import ArtifactStore
from activities.deps import ActivityDeps
from activities.heartbeat import heartbeating
from core.metrics import timed_step
from core.self_hosted_serving import inference_url_for
from core.settings import Settings
from core.training_steps import ServeAdapterInput, ServeAdapterResult

log = logging.getLogger(__name__)

LOAD_TIMEOUT_SECONDS = 300.0  # a large adapter on a busy server takes a while
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PATH_LIKE = re.compile(r"(?:[A-Za-z]+://|/)[^\s'\"]*")
_ALREADY_LOADED = "has already been loaded"


def served_folder_name(fine_tuned_model: str) -> str:
    """A folder name for the model: its own name when that is safe, else a cleaned one
    with a short hash of the original, so two names never share a folder."""
    cleaned = _UNSAFE.sub("_", fine_tuned_model).strip("._")[:100]
    if cleaned == fine_tuned_model and cleaned:
        return cleaned
    digest = hashlib.sha256(fine_tuned_model.encode("utf-8")).hexdigest()[:12]
    return f"{cleaned or 'adapter'}-{digest}"


def inference_root(inference_url: str) -> str:
    """The server's root URL (the settings name its OpenAI base URL, ending in /v1)."""
    url = inference_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _digests(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return found


def _place(staged: Path, target: Path) -> bool:
    """Move the staged copy into `target`, unless `target` already holds the same files;
    True when the existing folder was kept."""
    if target.is_dir() and _digests(target) == _digests(staged):
        shutil.rmtree(staged)
        return True
    retired = None
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(retired)
    try:
        staged.rename(target)
    except OSError:
        # A concurrent step (another suite of the same evaluation) placed it first.
        if not (target.is_dir() and _digests(target) == _digests(staged)):
            raise
        shutil.rmtree(staged)
        return True
    finally:
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    return False


def _failure(message: str, type: str, *, retryable: bool) -> ApplicationError:
    return ApplicationError(message, type=type, non_retryable=not retryable)


async def stage_adapter(store: ArtifactStore, adapter_uri: str, target: Path) -> Path:
    """Copy the adapter folder at `adapter_uri` into `target` (atomic; kept when it holds
    the same files already)."""
    try:
        prefix = store.key_of(adapter_uri.rstrip("/"))
    except ValueError:
        raise _failure(
            "the adapter is not in this deployment's artifact store",
            "adapter_not_found",
            retryable=False,
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        written = await store.get_directory(prefix, staged)
        if "adapter_config.json" not in written:
            raise _failure(
                "the artifact store holds no adapter (adapter_config.json) at the job's "
                "adapter URI",
                "adapter_not_found",
                retryable=False,
            )
        await asyncio.to_thread(_place, staged, target)
    finally:
        if staged.exists():
            await asyncio.to_thread(shutil.rmtree, staged, True)
    return target


def _server_message(response: httpx.Response) -> str:
    """The server's error text (vLLM: `{"error": {"message"}}` or a flat `message`)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


def _safe(message: str) -> str:
    # The server's text may name its folders or URIs: none of that leaves this service.
    return _PATH_LIKE.sub("<path>", message)[:300]


async def load_adapter(
    settings: Settings,
    lora_name: str,
    lora_path: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bool:
    """Ask the inference server to load the adapter; True when it had it loaded already.
    Unreachable or 5xx: retryable. Another refusal: final, with the server's reason."""
    headers = _auth(settings)
    url = f"{inference_root(inference_url_for(settings, lora_name))}/v1/load_lora_adapter"
    try:
        async with httpx.AsyncClient(timeout=LOAD_TIMEOUT_SECONDS, transport=transport) as http:
            response = await http.post(
                url, json={"lora_name": lora_name, "lora_path": lora_path}, headers=headers
            )
    except httpx.HTTPError as err:
        raise _failure(
            f"inference server unreachable: {type(err).__name__}",
            "inference_server_unavailable",
            retryable=True,
        ) from None
    if response.is_success:
        return False
    message = _server_message(response)
    if response.status_code == 400 and _ALREADY_LOADED in message:
        return True
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise _failure(
            f"inference server error {response.status_code} loading adapter {lora_name}",
            "inference_server_unavailable",
            retryable=True,
        )
    raise _failure(
        f"inference server refused adapter {lora_name} ({response.status_code}): "
        f"{_safe(message) or 'no reason given'}",
        "adapter_load_rejected",
        retryable=False,
    )


def _auth(settings: Settings) -> dict[str, str]:
    key = settings.self_hosted_inference_api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}


async def is_served(settings: Settings, lora_name: str) -> bool:
    """Whether the inference server lists the model (`GET /v1/models`, which lists loaded
    adapters too); False when it cannot say, so the caller loads it."""
    url = f"{inference_root(inference_url_for(settings, lora_name))}/v1/models"
    try:
        async with httpx.AsyncClient(timeout=30.0) as http:
            response = await http.get(url, headers=_auth(settings))
        listed = response.json().get("data", []) if response.is_success else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return any(isinstance(m, dict) and m.get("id") == lora_name for m in listed)


async def ensure_served(
    settings: Settings, store: ArtifactStore, fine_tuned_model: str, adapter_uri: str
) -> None:
    """Serve the adapter unless the server already lists it: an evaluation grading a
    self-hosted champion, or running after the server restarted, still finds it."""
    if not await is_served(settings, fine_tuned_model):
        serving = ServeAdapterInput(
            job_id="", fine_tuned_model=fine_tuned_model, adapter_uri=adapter_uri
        )
        await serve_adapter(settings, store, serving)


async def serve_adapter(
    settings: Settings,
    store: ArtifactStore,
    inp: ServeAdapterInput,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServeAdapterResult:
    """Copy the adapter where the server reads it (or hand over its URI) and load it."""
    if settings.self_hosted_adapter_dir is None:
        lora_path = inp.adapter_uri
    else:
        target = settings.self_hosted_adapter_dir.resolve() / served_folder_name(
            inp.fine_tuned_model
        )
        lora_path = str(await stage_adapter(store, inp.adapter_uri, target))
    already = await load_adapter(settings, inp.fine_tuned_model, lora_path, transport=transport)
    log.info("adapter %s %s", inp.fine_tuned_model, "already served" if already else "loaded")
    return ServeAdapterResult(fine_tuned_model=inp.fine_tuned_model, already_loaded=already)


class ServingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="serve_adapter")
    @timed_step
    @heartbeating
    async def serve_adapter(self, inp: ServeAdapterInput) -> ServeAdapterResult:
        return await serve_adapter(self._deps.settings, self._deps.artifact_store, inp)
