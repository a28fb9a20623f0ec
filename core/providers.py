"""Which fine-tuning providers this deployment serves: one answer, read by the API when a
job is submitted and by the workers' provider registry when a step needs a provider."""

from __future__ import annotations

from core.models import Provider
from core.settings import Settings


def configured_providers(settings: Settings) -> tuple[Provider, ...]:
    """OpenAI's settings all have defaults, so it is always served; a provider joins this
    list once it has settings of its own and a factory in the registry."""
    del settings  # the answer depends on settings once a second provider has any
    return (Provider.openai,)
