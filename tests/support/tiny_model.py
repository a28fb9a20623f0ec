"""The suite's self-hosted base model: a tiny Qwen2-style LM built locally (no download),
once per machine and cached under .run/, with a catalogue file naming it."""

from __future__ import annotations

from pathlib import Path

from scripts.stack.self_hosted import build_dev_model
from scripts.stack.self_hosted import write_catalogue as write_catalogue_of

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".run" / "test-models"
TINY_MODEL_NAME = "tiny-qwen2-test"
# Bump when the builder changes, so a stale cached model is not reused.
BUILD_VERSION = 2


def tiny_model_dir() -> Path:
    """The tiny model's folder, built on first use (safe across parallel processes)."""
    return build_dev_model(CACHE, f"{TINY_MODEL_NAME}-v{BUILD_VERSION}")


def write_catalogue(
    path: Path, *, tokens_per_second: float = 2000.0, max_seq_length: int = 512
) -> Path:
    """A catalogue file serving the tiny model as `tiny-qwen2-test` on a `cpu` pool."""
    return write_catalogue_of(
        path,
        {TINY_MODEL_NAME: tiny_model_dir()},
        tokens_per_second=tokens_per_second,
        max_seq_length=max_seq_length,
    )
