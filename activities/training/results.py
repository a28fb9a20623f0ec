"""The training step's result: the adapter and its manifest in the artifact store, and the
job's training facts in the projection (the fine-tuned model, tokens, GPU cost and the
adapter's artifact record, which promotion registers)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from activities.artifacts.hashing import sha256_file
from activities.training import artifact_keys as keys
from activities.training.deps import TrainingDeps
from activities.training.spec import DoneEvent
from core.adapter_manifest import (
    AdapterManifest,
    AdapterMetrics,
    LossCurveSummary,
    build_adapter_manifest,
)
from core.base_model_catalogue import CatalogueModel
from core.metrics import record_training
from core.models import TrainingProgress
from core.provider_status import ProviderJobStatus
from core.training_steps import AdapterArtifact, TrainAdapterInput, TrainAdapterResult
from store import jobs


async def existing_adapter(deps: TrainingDeps, inp: TrainAdapterInput) -> TrainAdapterResult | None:
    """The result of an earlier attempt that wrote its manifest (the last thing it writes)."""
    raw = await deps.artifacts.get_bytes(keys.manifest_key(inp.tenant_id, inp.job_id))
    if raw is None:
        return None
    try:
        manifest = AdapterManifest.model_validate_json(raw)
    except ValidationError:
        return None  # unreadable: train again, and write it anew
    artifact = _artifact(deps, inp, manifest)
    await _record_artifact(deps, inp.job_id, artifact, manifest.metrics.trained_tokens)
    return _result(artifact, manifest.metrics)


async def store_adapter(
    deps: TrainingDeps,
    inp: TrainAdapterInput,
    model: CatalogueModel,
    done: DoneEvent,
    dataset: Path,
    loss_curve: LossCurveSummary | None,
) -> AdapterManifest:
    """Upload the adapter's files, then its manifest: an adapter without a manifest is
    not finished, and the next attempt writes it again at the same keys."""
    prefix = keys.adapter_prefix(inp.tenant_id, inp.job_id)
    stored = await deps.artifacts.put_directory(prefix, done.adapter_dir)
    dataset_digest = await asyncio.to_thread(sha256_file, dataset)
    manifest = build_adapter_manifest(
        adapter_uri=deps.artifacts.uri(prefix),
        adapter_prefix=prefix,
        files=stored,
        base_model=inp.base_model,
        base_model_source=model.source,
        training_config=inp.config.model_dump(mode="json"),
        metrics=AdapterMetrics(
            steps=done.steps,
            final_train_loss=done.train_loss,
            trained_tokens=done.trained_tokens or 0,
            loss_curve=loss_curve,
        ),
        dataset_sha256=dataset_digest.sha256,
        created_at=datetime.now(UTC),
    )
    await deps.artifacts.put_bytes(
        keys.manifest_key(inp.tenant_id, inp.job_id), manifest.to_json_bytes()
    )
    return manifest


async def adapter_result(
    deps: TrainingDeps,
    inp: TrainAdapterInput,
    model: CatalogueModel,
    manifest: AdapterManifest,
    gpu_seconds: float,
) -> TrainAdapterResult:
    """Record the run's facts; its cost is the time it held a worker of the pool, at the
    pool's hourly price (one worker, all its GPUs), as the estimate prices it."""
    pool = deps.catalogue.pool_for(model)
    cost = round(gpu_seconds * pool.hourly_price_usd / 3600, 6)
    artifact = _artifact(deps, inp, manifest)
    tokens = manifest.metrics.trained_tokens
    await _record_artifact(deps, inp.job_id, artifact, tokens)
    await jobs.record_training_result(
        deps.pool,
        inp.job_id,
        fine_tuned_model=artifact.fine_tuned_model,
        trained_tokens=tokens,
        training_cost=cost,
        training_duration=int(gpu_seconds),
    )
    record_training(inp.tenant_id, inp.base_model, tokens, cost)
    return _result(artifact, manifest.metrics)


def _artifact(
    deps: TrainingDeps, inp: TrainAdapterInput, manifest: AdapterManifest
) -> AdapterArtifact:
    return manifest.artifact(
        keys.fine_tuned_model_id(inp.base_model, inp.job_id),
        deps.artifacts.uri(keys.manifest_key(inp.tenant_id, inp.job_id)),
    )


async def _record_artifact(
    deps: TrainingDeps, job_id: str, artifact: AdapterArtifact, tokens: int
) -> None:
    """The adapter's record goes in the job's provider metadata, where promotion reads it."""
    await jobs.record_provider_job(
        deps.pool,
        job_id,
        keys.provider_job_id(job_id),
        artifact.model_dump(mode="json", exclude={"fine_tuned_model"}),
    )
    await jobs.record_training_result(
        deps.pool,
        job_id,
        fine_tuned_model=artifact.fine_tuned_model,
        trained_tokens=tokens,
        training_cost=None,
        training_duration=None,
    )


def _result(artifact: AdapterArtifact, metrics: AdapterMetrics) -> TrainAdapterResult:
    return TrainAdapterResult(
        done=True,
        provider_status=ProviderJobStatus.succeeded,
        progress=TrainingProgress(
            provider_status=ProviderJobStatus.succeeded.value,
            step=metrics.steps,
            total_steps=metrics.steps,
            train_loss=metrics.final_train_loss,
        ),
        fine_tuned_model=artifact.fine_tuned_model,
        trained_tokens=metrics.trained_tokens,
        adapter=artifact,
    )
