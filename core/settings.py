"""Service settings, read once from the environment (and `.env`) through pydantic-settings.

Secrets are `SecretStr` so they never print; each may also come from a file named by
`<NAME>_FILE` (container secrets), re-read on every access so a rotated file is picked up.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _read_secret_file(path: str | None) -> SecretStr | None:
    if not path:
        return None
    return SecretStr(Path(path).read_text(encoding="utf-8").strip())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # PostgreSQL projection of jobs, evaluations and promotions.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/model_trainer"
    database_pool_max: int = 10

    # Temporal.
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "model-trainer"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    # Fine-tuning provider (OpenAI or anything speaking its API).
    openai_api_key: SecretStr | None = None
    openai_api_key_file: str | None = None
    openai_base_url: str | None = None
    openai_max_retries: int = 4
    openai_timeout_seconds: float = 60.0

    # OpenAI accepts no new fine-tuning jobs after this date; a deployment with an
    # agreement to keep training there says so here.
    openai_fine_tuning_cutoff: date = date(2027, 1, 6)
    openai_fine_tuning_exception: bool = False

    # Self-hosted provider: LoRA on open-weights base models, trained by GPU workers on
    # their own task queue and served by vLLM. Served only when a catalogue is configured.
    self_hosted_catalogue_file: Path | None = None
    # Where weights named by a catalogue's hf_repo are read from (None: the default cache).
    self_hosted_hf_cache_dir: Path | None = None
    gpu_task_queue: str = "model-trainer-gpu"
    # Artifacts (datasets handed to training, checkpoints, adapters): s3://bucket/prefix,
    # or a local folder for development.
    artifact_store_url: str = ".run/artifacts"
    # A checkpoint goes to the artifact store every this many optimizer steps.
    self_hosted_checkpoint_steps: int = Field(default=50, ge=1)
    # A GPU worker silent for this long has died: Temporal hands training to another one.
    self_hosted_heartbeat_timeout_seconds: float = Field(default=60.0, gt=0)
    self_hosted_training_timeout_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Scratch space of a GPU worker (base model copies, checkpoints, the adapter).
    self_hosted_work_dir: Path = Path(".run/training")
    # vLLM's OpenAI-compatible server (with --enable-lora) that serves self-hosted models.
    self_hosted_inference_url: str = "http://127.0.0.1:8004/v1"
    self_hosted_inference_api_key: SecretStr | None = None
    # Where that server reads adapters from: a folder both it and the CPU worker see
    # (a shared volume). None: the server resolves artifact URIs itself.
    self_hosted_adapter_dir: Path | None = Path(".run/served-adapters")

    # Model Registry.
    model_registry_url: str = "http://127.0.0.1:8003"
    model_registry_api_key: SecretStr | None = None
    model_registry_api_key_file: str | None = None
    model_registry_timeout_seconds: float = 10.0

    # Where this API is reachable by others (model cards linked from the registry).
    public_base_url: str = "http://127.0.0.1:8000"
    # Largest request body the API reads (413 beyond). Inline custom evaluation suites are
    # the largest bodies; bigger suites go by URI.
    max_request_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # How long the API trusts the provider's answer on whether a base model exists.
    base_model_cache_seconds: float = Field(default=300.0, ge=0)

    # Datasets: plain paths and file:// URIs must resolve inside this root.
    dataset_root: Path = Path("examples/datasets")
    # The provider's limit: OpenAI takes up to 8 GB through its Uploads API (files over
    # 512 MB go that way).
    dataset_max_bytes: int = 8 * 1024 * 1024 * 1024

    # Dataset fetching: s3:// and https:// URIs must fall under an allowed prefix, for all
    # tenants or per tenant (JSON in the env, e.g. '["s3://corpus/", "https://"]'); empty
    # means local files only. A prefix naming a host also trusts its non-public addresses.
    dataset_allowed_prefixes: list[str] = Field(default_factory=list)
    dataset_tenant_prefixes: dict[str, list[str]] = Field(default_factory=dict)
    dataset_fetch_timeout_seconds: float = 30.0
    dataset_https_ca_bundle: str | None = None  # CA file trusted instead of the system store
    s3_endpoint_url: str | None = None  # S3-compatible store instead of AWS

    # Dataset analysis: per-tenant datasheet policy (YAML, see examples/dataset-policy.yaml;
    # None = only the built-in required fields), a folder of tiktoken encoding files used
    # instead of the vendored ones, the default region for phone numbers without a country
    # code, and how many line numbers a report keeps per finding kind.
    dataset_policy_file: Path | None = None
    dataset_encodings_dir: Path | None = None
    dataset_pii_phone_region: str = "US"
    dataset_report_lines_per_kind: int = 10

    # Training: how often the wait step reports progress back to the workflow, how often
    # it polls the provider, and how long a silent worker may hold a step.
    progress_report_seconds: float = 60.0
    provider_poll_seconds: float = 10.0
    wait_heartbeat_seconds: float = 120.0
    launch_timeout_seconds: float = 120.0
    promote_timeout_seconds: float = 60.0
    approval_timeout_seconds: float | None = None
    # A training run continues as new once its history holds this many events.
    continue_as_new_after_events: int = Field(default=5000, ge=10)

    # Evaluation.
    eval_judge_model: str = "gpt-4o-mini-2024-07-18"
    # Least share of gold verdicts the judge must match on a suite for the evaluation to
    # call that suite's judging calibrated (a deployment setting: the judge is the
    # deployment's, the same for every tenant, so no job's policy may lower the bar).
    eval_judge_agreement_floor: float = Field(default=0.8, ge=0.0, le=1.0)
    # Where the rubric judge and moderation run: OpenAI (its inference outlives the
    # fine-tuning cutoff) or a self-hosted OpenAI-compatible server.
    eval_judge_provider: Literal["openai", "self_hosted"] = "openai"
    eval_judge_base_url: str | None = None  # None: self_hosted_inference_url
    eval_judge_api_key: SecretStr | None = None  # None: self_hosted_inference_api_key
    eval_moderation_provider: Literal["openai", "self_hosted"] = "openai"
    eval_moderation_base_url: str | None = None  # a server with OpenAI's moderation API
    eval_moderation_api_key: SecretStr | None = None
    eval_moderation_model: str = "omni-moderation-latest"
    eval_concurrency: int = 8
    eval_default_pedagogy_suites: list[str] = Field(
        default_factory=lambda: ["content_accuracy", "pedagogical_soundness"]
    )
    eval_default_safety_suites: list[str] = Field(
        default_factory=lambda: ["harmful_content", "privacy_protection"]
    )
    eval_max_error_rate: float = 0.2
    # Also grade the base model on the same samples, so reports show the paired delta.
    eval_run_baseline: bool = True
    # Cap on samples per suite (None = all); for smoke runs and benchmarks.
    eval_max_samples_per_suite: int | None = None
    # Evaluations needing fewer model calls than this run in one activity; larger ones fan
    # out, one activity per suite and model, so several workers share them.
    eval_fan_out_min_calls: int = 150
    # Bootstrap intervals of graded scores and paired deltas: resamples drawn, and the
    # seed that makes a report reproducible.
    eval_bootstrap_resamples: int = Field(default=2000, ge=100, le=100_000)
    eval_interval_seed: int = Field(default=0, ge=0)

    # Evaluation mechanics: SDK retries per call for 429/5xx/timeouts (honouring
    # Retry-After; sized for rate-limit storms), the longest pause an x-ratelimit reset
    # header may impose, the response cache (re-runs cost nothing), and the size cap for
    # custom suites fetched by URI.
    eval_max_retries: int = Field(default=12, ge=0)
    eval_max_rate_limit_pause_seconds: float = Field(default=60.0, gt=0)
    eval_cache_enabled: bool = True
    eval_custom_suite_max_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    # POST /trainer/datasets/validate answers synchronously, so only for small files.
    dataset_sync_validate_max_bytes: int = 100 * 1024 * 1024

    # Validate step: refuse base models retiring within this many days.
    base_model_shutdown_window_days: int = 30

    log_level: str = "INFO"

    # The worker's Prometheus endpoints (0 disables one): our own metrics, and the Temporal
    # SDK's worker metrics (task slots, poll and schedule latencies), on another port.
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    temporal_sdk_metrics_port: int = Field(default=9465, ge=0, le=65535)

    # API authentication. `disabled` exists for local development only.
    auth_mode: Literal["jwt", "disabled"] = "jwt"
    jwt_secret: SecretStr | None = None
    jwt_secret_file: str | None = None
    jwt_public_key_file: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_tenant_claim: str = "tenant"
    jwt_roles_claim: str = "roles"

    @field_validator("self_hosted_adapter_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty SELF_HOSTED_ADAPTER_DIR means none (vLLM resolves artifact URIs)."""
        return None if value == "" else value

    def provider_api_key(self) -> str:
        from_file = _read_secret_file(self.openai_api_key_file)
        key = from_file or self.openai_api_key
        return key.get_secret_value() if key else "unset"

    def jwt_hs256_secret(self) -> str | None:
        from_file = _read_secret_file(self.jwt_secret_file)
        key = from_file or self.jwt_secret
        return key.get_secret_value() if key else None

    def registry_api_key(self) -> str | None:
        from_file = _read_secret_file(self.model_registry_api_key_file)
        key = from_file or self.model_registry_api_key
        return key.get_secret_value() if key else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
