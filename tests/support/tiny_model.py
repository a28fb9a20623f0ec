"""The suite's self-hosted base model: a tiny Qwen2-style LM built locally (no download),
once per machine and cached under .run/, with a catalogue file naming it."""

from __future__ import annotations

import fcntl
from pathlib import Path

from emulators.tiny_base_model import build_tiny_model, chat_texts

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".run" / "test-models"
TINY_MODEL_NAME = "tiny-qwen2-test"
CORPUS = [REPO_ROOT / "examples" / "datasets" / "tutor-k12-good.jsonl"]
# Bump when the builder changes, so a stale cached model is not reused.
BUILD_VERSION = 1


def tiny_model_dir() -> Path:
    """The tiny model's folder, built on first use (safe across parallel processes)."""
    directory = CACHE / f"{TINY_MODEL_NAME}-v{BUILD_VERSION}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / "model.safetensors").is_file():
            partial = directory.with_suffix(".partial")
            build_tiny_model(partial, chat_texts(CORPUS))
            partial.rename(directory)
    return directory


def write_catalogue(path: Path, *, tokens_per_second: float = 2000.0) -> Path:
    """A catalogue file serving the tiny model as `tiny-qwen2-test` on a `cpu` pool."""
    path.write_text(
        "pools:\n"
        "  cpu:\n"
        f"    tokens_per_second: {tokens_per_second}\n"
        "    hourly_price_usd: 0.5\n"
        "models:\n"
        f"  {TINY_MODEL_NAME}:\n"
        f"    path: {tiny_model_dir()}\n"
        "    max_seq_length: 512\n"
        "    licence: apache-2.0\n"
        "    gpu_pool: cpu\n",
        encoding="utf-8",
    )
    return path
