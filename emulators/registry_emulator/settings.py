"""Settings of the Model Registry emulator (environment prefix `REGISTRY_EMULATOR_`)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistryEmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_EMULATOR_", extra="ignore")

    # When set, every registry route except `GET /health` and `/_emulator/*` requires
    # `Authorization: Bearer <api_key>`; otherwise it answers 401 in the registry error shape.
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8003
    # Reported by `GET /health`.
    service_version: str = "1.0.0-emulator"
    # How many of the newest active versions with an artifact_uri stay unarchived.
    keep_active_versions: int = 3
    # Prefix of the `archive_uri` given to archived versions.
    archive_uri_prefix: str = "archive://model-registry"
    # A registry that answers before it commits (see `consistency.py`; also settable at run
    # time with `PUT /_emulator/consistency`): created records stay invisible for this many
    # lookups and seconds, and a create colliding with one stalls for `stall_seconds`.
    visible_after_reads: int = 0
    visible_after_seconds: float = 0.0
    stall_seconds: float = 60.0
