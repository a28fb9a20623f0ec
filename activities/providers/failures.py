"""How provider problems end a step: retried when they may pass, final when they cannot."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.providers.base import FineTuningProvider, ProviderError
from activities.providers.registry import UnsupportedProvider


def non_retryable(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


def provider_failure(err: ProviderError) -> Exception:
    """Retryable provider errors propagate (Temporal retries); rejections end the step."""
    if err.retryable:
        return ApplicationError(err.message, type=f"provider_{err.code}")
    return non_retryable(err.code, f"provider rejected the request: {err.message}")


def provider_for(deps: ActivityDeps, name: str) -> FineTuningProvider:
    """The provider's client; one this deployment does not serve ends the step."""
    try:
        return deps.provider(name)
    except UnsupportedProvider as err:
        raise non_retryable("provider_unsupported", str(err)) from None
