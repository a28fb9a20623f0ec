"""The manifest stored beside a trained LoRA adapter (no I/O here).

It says what the adapter is and how it was made: each file with its size and sha256, the
weights' hash the registry records, the base model and where its weights came from, the
training config, the training metrics and the dataset's hash. The training step writes it
as `adapter-manifest.json` in the adapter's folder; promotion reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from core.training_steps import AdapterArtifact

MANIFEST_NAME = "adapter-manifest.json"
WEIGHTS_NAME = "adapter_model.safetensors"
# A loss curve keeps at most this many points, evenly spread, first and last included.
LOSS_CURVE_POINTS = 50

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class UploadedFile(Protocol):
    """What the manifest needs of a stored object (the artifact store's StoredObject)."""

    @property
    def key(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def sha256(self) -> str: ...


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # relative to the adapter's folder, `/`-separated
    size_bytes: int = Field(ge=0)
    sha256: Sha256


class LossPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: int
    loss: float


class LossCurveSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_loss: float
    min_loss: float
    last_loss: float
    points: list[LossPoint]  # downsampled to LOSS_CURVE_POINTS at most


class AdapterMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(ge=0)
    final_train_loss: float | None = None
    trained_tokens: int = Field(ge=0)
    loss_curve: LossCurveSummary | None = None


class AdapterManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    adapter_uri: str  # the adapter's folder in the artifact store
    files: list[ManifestFile]  # sorted by name; the manifest itself is not among them
    weights_sha256: Sha256  # of adapter_model.safetensors
    size_bytes: int = Field(ge=0)  # all files together
    base_model: str  # the catalogue's name
    base_model_source: str  # hf://repo@revision, or the path the weights came from
    training_config: dict[str, JsonValue]
    metrics: AdapterMetrics
    dataset_sha256: Sha256
    created_at: AwareDatetime
    model_type: Literal["lora-adapter"] = "lora-adapter"
    framework: Literal["transformers-peft"] = "transformers-peft"

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(indent=2).encode("utf-8")

    def artifact(self, fine_tuned_model: str, manifest_uri: str) -> AdapterArtifact:
        """What promotion registers for this adapter."""
        return AdapterArtifact(
            fine_tuned_model=fine_tuned_model,
            adapter_uri=self.adapter_uri,
            manifest_uri=manifest_uri,
            weights_sha256=self.weights_sha256,
            size_bytes=self.size_bytes,
            base_model=self.base_model,
            base_model_source=self.base_model_source,
            model_type=self.model_type,
            framework=self.framework,
        )


def summarize_loss_curve(
    points: Sequence[tuple[int, float]], max_points: int = LOSS_CURVE_POINTS
) -> LossCurveSummary | None:
    """First, lowest and last loss, and the curve thinned to `max_points` (None if empty)."""
    if not points:
        return None
    ordered = sorted(points)
    kept = ordered
    if len(ordered) > max_points >= 2:
        last = len(ordered) - 1
        picked = sorted({round(i * last / (max_points - 1)) for i in range(max_points)})
        kept = [ordered[i] for i in picked]
    return LossCurveSummary(
        first_loss=ordered[0][1],
        min_loss=min(loss for _step, loss in ordered),
        last_loss=ordered[-1][1],
        points=[LossPoint(step=step, loss=loss) for step, loss in kept],
    )


def build_adapter_manifest(
    *,
    adapter_uri: str,
    adapter_prefix: str,
    files: Sequence[UploadedFile],
    base_model: str,
    base_model_source: str,
    training_config: Mapping[str, JsonValue],
    metrics: AdapterMetrics,
    dataset_sha256: str,
    created_at: AwareDatetime,
) -> AdapterManifest:
    """The manifest of the adapter uploaded under `adapter_prefix` (the store key of
    `adapter_uri`). ValueError when a file lies outside that folder, a name repeats, or
    the weights file is missing; a previous manifest among `files` is left out."""
    folder = adapter_prefix.rstrip("/") + "/"
    entries: dict[str, ManifestFile] = {}
    for stored in files:
        if not stored.key.startswith(folder) or stored.key == folder:
            raise ValueError(f"'{stored.key}' is not in the adapter folder '{adapter_prefix}'")
        name = stored.key[len(folder) :]
        if name == MANIFEST_NAME:
            continue
        if name in entries:
            raise ValueError(f"'{name}' appears twice among the adapter's files")
        entries[name] = ManifestFile(name=name, size_bytes=stored.size_bytes, sha256=stored.sha256)
    weights = entries.get(WEIGHTS_NAME)
    if weights is None:
        raise ValueError(f"the adapter has no {WEIGHTS_NAME}")
    listed = [entries[name] for name in sorted(entries)]
    return AdapterManifest(
        adapter_uri=adapter_uri,
        files=listed,
        weights_sha256=weights.sha256,
        size_bytes=sum(entry.size_bytes for entry in listed),
        base_model=base_model,
        base_model_source=base_model_source,
        training_config=dict(training_config),
        metrics=metrics,
        dataset_sha256=dataset_sha256,
        created_at=created_at,
    )
