"""Runtime knobs of the inference server (env vars prefixed ``INFERENCE_SERVER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InferenceServerSettings(BaseSettings):
    """What to serve and how much one request may ask for.

    Every field can be set from the environment, e.g. ``INFERENCE_SERVER_CATALOGUE=FILE``
    or ``INFERENCE_SERVER_API_KEY=token``; the command line overrides them.
    """

    model_config = SettingsConfigDict(env_prefix="INFERENCE_SERVER_", extra="ignore")

    catalogue: Path | None = None
    """The base-model catalogue; every model in it is served under its catalogue name."""

    adapter_root: Path | None = None
    """When set, `load_lora_adapter` accepts only folders under it; a relative
    `lora_path` is read from it."""

    lora_resolver_dir: Path | None = None
    """vLLM's filesystem LoRA resolver (``VLLM_LORA_RESOLVER_CACHE_DIR``): a chat request
    naming an unknown model loads the adapter folder of that name in this directory."""

    api_key: str | None = None
    """When set, every `/v1` request must carry ``Authorization: Bearer <api_key>``
    (like vLLM's ``--api-key``)."""

    allow_runtime_lora_updating: bool = True
    """vLLM serves `/v1/load_lora_adapter` and `/v1/unload_lora_adapter` only with
    ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``; this server serves them unless this is False
    (then they answer 404, as in vLLM)."""

    host: str = "127.0.0.1"
    port: int = 8020

    max_tokens_limit: int = Field(default=512, ge=1)
    """The most tokens one completion may ask for; more answers 400. Also the default
    when a request names no `max_tokens`, the context permitting."""

    torch_threads: int | None = Field(default=None, ge=1)
    """CPU threads torch may use; None leaves torch's default."""

    hf_cache_dir: Path | None = None
    """Where Hugging Face catalogue models are read from (None: the default cache)."""
