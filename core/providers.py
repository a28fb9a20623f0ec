"""Which fine-tuning providers this deployment serves: one answer, read by the API when a
job is submitted and by the workers' provider registry when a step needs a provider."""

from __future__ import annotations

from core.models import Provider
from core.settings import Settings


def configured_providers(settings: Settings) -> tuple[Provider, ...]:
    """OpenAI's settings all have defaults, so it is always served; the self-hosted provider
    is served once the deployment names its base-model catalogue."""
    served = [Provider.openai]
    if settings.self_hosted_catalogue_file is not None:
        served.append(Provider.self_hosted)
    return tuple(served)
