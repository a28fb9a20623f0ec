"""The self-hosted provider's part of a stack: a base-model catalogue, the vLLM-compatible
inference server (the emulators' CPU stand-in), and GPU workers (`python worker.py gpu`).
Used by `make dev` / `make demo`, the tests and the benchmarks alike."""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.stack.processes import HOST, REPO

if TYPE_CHECKING:
    from core.settings import Settings

DEV_MODEL_NAME = "tiny-qwen2"
DEV_CORPUS = REPO / "examples" / "datasets" / "tutor-k12-good.jsonl"


def training_stack_installed() -> bool:
    """Whether this environment can train and serve (the `training` extra)."""
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


def build_dev_model(models_dir: Path, name: str = DEV_MODEL_NAME) -> Path:
    """A tiny base model built locally (no download), once; safe across processes."""
    from emulators.tiny_base_model import build_tiny_model, chat_texts

    directory = models_dir / name
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / "model.safetensors").is_file():
            partial = directory.with_name(name + ".partial")
            build_tiny_model(partial, chat_texts([DEV_CORPUS]))
            partial.rename(directory)
    return directory


def write_catalogue(
    path: Path,
    models: dict[str, Path],
    *,
    max_seq_length: int = 512,
    tokens_per_second: float = 2000.0,
    hourly_price_usd: float = 0.5,
) -> Path:
    """A catalogue serving local model folders on one `cpu` pool."""
    lines = [
        "pools:",
        "  cpu:",
        f"    tokens_per_second: {tokens_per_second}",
        f"    hourly_price_usd: {hourly_price_usd}",
        "models:",
    ]
    for name, directory in models.items():
        lines += [
            f"  {name}:",
            f"    path: {directory}",
            f"    max_seq_length: {max_seq_length}",
            "    licence: apache-2.0",
            "    gpu_pool: cpu",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# A random tiny model rarely ends its answer: cap what a request without max_tokens gets, so
# an evaluation on a CPU takes seconds rather than minutes (vLLM's own default is the context).
DEV_MAX_TOKENS = 96


def inference_server_argv(
    port: int, catalogue: Path, adapter_root: Path | None, max_tokens: int = DEV_MAX_TOKENS
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "emulators.inference_server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--catalogue",
        str(catalogue),
        "--max-tokens-limit",
        str(max_tokens),
        "--log-level",
        "warning",
    ]
    if adapter_root is not None:
        argv += ["--adapter-root", str(adapter_root)]
    return argv


def gpu_worker_argv() -> list[str]:
    return [sys.executable, "worker.py", "gpu"]


def self_hosted_env(settings: Settings) -> dict[str, str]:
    """The self-hosted settings as environment variables for worker and API processes."""
    env = {
        "GPU_TASK_QUEUE": settings.gpu_task_queue,
        "ARTIFACT_STORE_URL": settings.artifact_store_url,
        "SELF_HOSTED_INFERENCE_URL": settings.self_hosted_inference_url,
        "SELF_HOSTED_WORK_DIR": str(settings.self_hosted_work_dir),
        "SELF_HOSTED_CHECKPOINT_STEPS": str(settings.self_hosted_checkpoint_steps),
        "SELF_HOSTED_HEARTBEAT_TIMEOUT_SECONDS": str(
            settings.self_hosted_heartbeat_timeout_seconds
        ),
    }
    optional = {
        "SELF_HOSTED_CATALOGUE_FILE": settings.self_hosted_catalogue_file,
        "SELF_HOSTED_ADAPTER_DIR": settings.self_hosted_adapter_dir,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "EVAL_MAX_SAMPLES_PER_SUITE": settings.eval_max_samples_per_suite,
    }
    env.update({name: str(value) for name, value in optional.items() if value is not None})
    return env
