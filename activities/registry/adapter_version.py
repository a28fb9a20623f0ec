"""What a self-hosted promotion registers: the adapter the training step recorded in the
job's provider metadata (an `AdapterArtifact`, dumped), as a registry version.

The registry's binding providers (openai, vertex, bedrock, anthropic, azure) include no
self-hosted serving, so such a version gets no binding and the promotion row says why.
The registry's versions have no free-form metadata, so the base model and its revision go
in the model's description when promotion creates the model, on the promotion row, and in
the adapter's manifest beside `artifact_uri`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.training_steps import ADAPTER_FRAMEWORK, ADAPTER_MODEL_TYPE

NO_BINDING_NOTE = "no binding: the registry has no provider for self-hosted serving"
# Our providers whose models the registry can bind, by the registry's names.
REGISTRY_BINDING_PROVIDER = {
    "openai": "openai",
    "vertex_ai": "vertex",
    "bedrock": "bedrock",
    "anthropic": "anthropic",
}

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]


class AdapterFacts(BaseModel):
    """The adapter's record in the job's provider metadata."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    adapter_uri: str = Field(min_length=1)
    manifest_uri: str | None = None
    weights_sha256: Sha256Hex
    size_bytes: int = Field(ge=0)
    base_model: str | None = None
    base_model_source: str | None = None
    model_type: str = ADAPTER_MODEL_TYPE
    framework: str = ADAPTER_FRAMEWORK

    def base_model_line(self, base_model: str) -> str:
        """The base model and where its weights came from (with the pinned revision)."""
        source = f" ({self.base_model_source})" if self.base_model_source else ""
        return f"LoRA adapter on base model {self.base_model or base_model}{source}"

    def recorded(self, base_model: str) -> dict[str, Any]:
        """What the promotion row keeps of the registered adapter."""
        return {
            "artifact_uri": self.adapter_uri,
            "manifest_uri": self.manifest_uri,
            "hash": self.weights_sha256.lower(),
            "size_bytes": self.size_bytes,
            "model_type": self.model_type,
            "framework": self.framework,
            "base_model": self.base_model or base_model,
            "base_model_source": self.base_model_source,
        }


class AdapterNotRecorded(ValueError):
    """The job's provider metadata holds no complete adapter record."""


def adapter_facts(provider_metadata: dict[str, Any] | None) -> AdapterFacts:
    try:
        return AdapterFacts.model_validate(provider_metadata or {})
    except ValidationError as err:
        fields = sorted({str(e["loc"][0]) for e in err.errors() if e["loc"]})
        raise AdapterNotRecorded(
            "the job's adapter is not recorded in its provider metadata "
            f"(missing or invalid: {', '.join(fields) or 'all'})"
        ) from None


def model_description(job_description: str | None, facts: AdapterFacts, base_model: str) -> str:
    line = facts.base_model_line(base_model)
    return f"{job_description}\n\n{line}" if job_description else line
