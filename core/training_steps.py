"""Inputs and results of the self-hosted training step, which runs on a GPU worker's task
queue, and of serving its adapter for evaluation."""

from __future__ import annotations

from pydantic import BaseModel

# GpuTrainingPlan is defined beside LaunchResult, which carries it.
from core.steps import GpuTrainingPlan as GpuTrainingPlan
from core.steps import WaitResult
from core.training_config import SelfHostedTrainingConfig

# What the registry and the job's providerMetadata record about a self-hosted adapter.
ADAPTER_MODEL_TYPE = "lora-adapter"
ADAPTER_FRAMEWORK = "transformers-peft"


class TrainAdapterInput(BaseModel):
    job_id: str
    tenant_id: str
    base_model: str  # the catalogue's name
    provider_job_id: str
    dataset_uri: str  # the validated file in the artifact store
    config: SelfHostedTrainingConfig


class TrainingCheckpoint(BaseModel):
    """The heartbeat details of the training step: a retried attempt resumes from here."""

    step: int
    uri: str  # the checkpoint's folder in the artifact store


class AdapterArtifact(BaseModel):
    """The trained adapter in the artifact store, as promotion registers it."""

    fine_tuned_model: str  # stable, names the job; the name vLLM serves it under
    adapter_uri: str  # the adapter's folder
    manifest_uri: str
    weights_sha256: str  # of adapter_model.safetensors
    size_bytes: int  # all the adapter's files
    base_model: str
    base_model_source: str  # hf://repo@revision, or the path the weights came from
    model_type: str = ADAPTER_MODEL_TYPE
    framework: str = ADAPTER_FRAMEWORK


class TrainAdapterResult(WaitResult):
    """The training step's end: a wait step's result, and the adapter it wrote."""

    adapter: AdapterArtifact | None = None


class ServeAdapterInput(BaseModel):
    job_id: str
    fine_tuned_model: str
    adapter_uri: str


class ServeAdapterResult(BaseModel):
    fine_tuned_model: str
    already_loaded: bool = False
