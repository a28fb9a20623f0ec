"""The provider registry: each `Provider` a deployment serves maps to a factory that builds
its `FineTuningProvider` from the worker's settings and clients. A second provider is one
more entry here, its module, and its settings in `core.providers`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

from activities.artifacts.factory import open_artifact_store
from activities.artifacts.store import ArtifactStore
from activities.providers.base import FineTuningProvider
from activities.providers.openai_clients import RotatingOpenAIClient
from activities.providers.openai_provider import OpenAIProvider
from activities.providers.self_hosted import SelfHostedProvider
from core.base_model_catalogue import load_catalogue
from core.models import Provider
from core.providers import configured_providers
from core.settings import Settings


class UnsupportedProvider(Exception):
    pass


@dataclass(frozen=True)
class ProviderClients:
    """What the factories build providers from; one per worker process."""

    settings: Settings
    openai: RotatingOpenAIClient

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use (only self-hosted jobs need it)."""
        return open_artifact_store(self.settings)


ProviderFactory = Callable[[ProviderClients], FineTuningProvider]


def _openai(clients: ProviderClients) -> FineTuningProvider:
    return OpenAIProvider(clients.openai.current())


def _self_hosted(clients: ProviderClients) -> FineTuningProvider:
    catalogue_file = clients.settings.self_hosted_catalogue_file
    if catalogue_file is None:  # configured_providers leaves self_hosted out then
        raise UnsupportedProvider("provider 'self_hosted' has no base-model catalogue here")
    return SelfHostedProvider(clients.settings, load_catalogue(catalogue_file), clients.artifacts)


FACTORIES: Mapping[Provider, ProviderFactory] = {
    Provider.openai: _openai,
    Provider.self_hosted: _self_hosted,
}


def build_provider(
    name: str,
    clients: ProviderClients,
    factories: Mapping[Provider, ProviderFactory] = FACTORIES,
) -> FineTuningProvider:
    """The named provider, or `UnsupportedProvider` when this deployment does not serve it."""
    factory = None
    if name in {p.value for p in configured_providers(clients.settings)}:
        factory = factories.get(Provider(name))
    if factory is None:
        raise UnsupportedProvider(f"provider '{name}' is not available in this deployment")
    return factory(clients)
