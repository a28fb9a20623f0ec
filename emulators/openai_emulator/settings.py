"""Runtime knobs of the OpenAI emulator (env vars prefixed ``OPENAI_EMULATOR_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmulatorSettings(BaseSettings):
    """Timing, capacity and auth settings.

    Every field can be overridden from the environment, e.g.
    ``OPENAI_EMULATOR_SECONDS_PER_STEP=0.01`` or ``OPENAI_EMULATOR_API_KEY=sk-test``.
    """

    model_config = SettingsConfigDict(env_prefix="OPENAI_EMULATOR_", extra="ignore")

    seconds_per_step: float = Field(default=0.05, ge=0)
    """Wall-clock seconds one training step takes while a job is `running`."""

    validation_seconds: float = Field(default=0.1, ge=0)
    """Seconds a job spends in `validating_files`."""

    queue_seconds: float = Field(default=0.1, ge=0)
    """Seconds a job spends `queued` after validation."""

    max_steps: int = Field(default=60, ge=1)
    """Cap on the total number of training steps of a job."""

    api_key: str | None = None
    """When set, every /v1 request must carry ``Authorization: Bearer <api_key>``."""

    chat_latency_seconds: float = Field(default=0.0, ge=0)
    """Artificial latency added to every chat completion."""
