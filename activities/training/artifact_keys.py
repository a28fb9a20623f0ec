"""Where a self-hosted job's artifacts live in the artifact store. One place, so the launch,
the training step, serving and promotion agree on every key."""

from __future__ import annotations

from core.adapter_manifest import MANIFEST_NAME
from core.self_hosted_serving import fine_tuned_model_id as fine_tuned_model_id


def dataset_key(tenant_id: str, job_id: str) -> str:
    return f"datasets/{tenant_id}/{job_id}/train.jsonl"


def launch_key(job_id: str) -> str:
    """The launch record: proof that the job was handed to training (exactly once)."""
    return f"launches/{job_id}.json"


def checkpoint_prefix(tenant_id: str, job_id: str, step: int) -> str:
    return f"checkpoints/{tenant_id}/{job_id}/checkpoint-{step}"


def checkpoints_prefix(tenant_id: str, job_id: str) -> str:
    return f"checkpoints/{tenant_id}/{job_id}"


def adapter_prefix(tenant_id: str, job_id: str) -> str:
    return f"adapters/{tenant_id}/{job_id}"


def manifest_key(tenant_id: str, job_id: str) -> str:
    return f"{adapter_prefix(tenant_id, job_id)}/{MANIFEST_NAME}"


def provider_job_id(job_id: str) -> str:
    return f"sh-{job_id}"
