"""The self-hosted provider's base models: one catalogue file per deployment (YAML).

Each entry names a model users send as `baseModel`, where its weights come from (a Hugging
Face repository at a pinned revision, or a local or S3 path), its chat template, its
longest sequence, its licence and the GPU pool that trains it. Each pool says how fast it
trains and what an hour of it costs, which is what the GPU-time cost estimate uses.
See examples/base-models.yaml.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class GpuPool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # One worker of the pool (all its GPUs): its training throughput in tokens per second,
    # and what an hour of it costs.
    tokens_per_second: float = Field(gt=0)
    hourly_price_usd: float = Field(ge=0)
    # More than one: the worker's trainer spans them (launched through torchrun).
    gpus_per_worker: int = Field(default=1, ge=1)


class CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Exactly one source: a Hugging Face repository with a pinned revision, or a path.
    hf_repo: str | None = None
    revision: str | None = None
    path: str | None = None  # a local folder, or s3://bucket/prefix/
    # None: the tokenizer's own chat template.
    chat_template: str | None = None
    max_seq_length: int = Field(ge=16)
    licence: str = Field(min_length=1)
    gpu_pool: str = Field(min_length=1)
    # The vLLM server (OpenAI-compatible base URL, …/v1) serving this base model and its
    # adapters; None: the deployment's SELF_HOSTED_INFERENCE_URL.
    inference_url: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CatalogueModel:
        if (self.hf_repo is None) == (self.path is None):
            raise ValueError("give exactly one of hf_repo (with revision) or path")
        if self.hf_repo is not None and not self.revision:
            raise ValueError("hf_repo needs a pinned revision")
        return self

    @property
    def source(self) -> str:
        """Where the weights come from, as the manifest and registry record it."""
        if self.hf_repo is not None:
            return f"hf://{self.hf_repo}@{self.revision}"
        assert self.path is not None
        return self.path


class BaseModelCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pools: dict[str, GpuPool]
    models: dict[str, CatalogueModel]

    @model_validator(mode="after")
    def _pools_exist(self) -> BaseModelCatalogue:
        for name, model in self.models.items():
            if model.gpu_pool not in self.pools:
                raise ValueError(f"models.{name}.gpu_pool: no pool named '{model.gpu_pool}'")
        return self

    def model(self, name: str) -> CatalogueModel | None:
        return self.models.get(name)

    def pool_for(self, model: CatalogueModel) -> GpuPool:
        return self.pools[model.gpu_pool]


def load_catalogue(path: Path) -> BaseModelCatalogue:
    """Read and check a catalogue file; a relative `path` source resolves beside the file."""
    return _load(path.resolve(), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> BaseModelCatalogue:
    del mtime_ns  # part of the cache key: an edited file is read again
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    catalogue = BaseModelCatalogue.model_validate(raw)
    for model in catalogue.models.values():
        if model.path and "://" not in model.path and not Path(model.path).is_absolute():
            model.path = str((path.parent / model.path).resolve())
    return catalogue
