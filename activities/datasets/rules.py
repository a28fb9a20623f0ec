"""Dataset rules chosen by provider and base model: how tokens are counted, how long one
example may be, what training costs, and how large an upload may be.

- OpenAI: tiktoken with the cookbook's per-message overhead, the fine-tuning guide's
  per-example limits, and the price list per million training tokens.
- Self-hosted: the catalogue model's own tokenizer and chat template (exact counts), its
  `max_seq_length` (or the job's, if smaller), and GPU time: tokens x epochs / the pool's
  throughput x its hourly price.

`dataset_rules` picks them; a provider or base model they cannot be built for raises
`RulesUnavailable`, whose code is the step's failure code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from activities.datasets.chat_template import (
    ChatTemplate,
    ChatTemplateMissing,
    special_tokens,
    template_source,
    tokenizer_config,
)
from activities.datasets.cost import CostEstimate, estimate_cost, estimate_gpu_cost
from activities.datasets.model_tokens import ExampleTokens, ModelTokenCounter, load_tokenizer
from activities.datasets.report import DatasetFormat
from activities.datasets.token_stats import (
    DEFAULT_PER_EXAMPLE_TOKEN_LIMIT,
    TokenStats,
    per_example_token_limit,
)
from activities.datasets.tokens import ExampleTexts, TokenCounter, encoding_for_model
from core.base_model_catalogue import BaseModelCatalogue, CatalogueModel, GpuPool, load_catalogue
from core.base_model_files import BaseModelFilesMissing, local_model_dir
from core.models import Provider
from core.settings import Settings
from core.training_config import SelfHostedTrainingConfig

# Epochs a self-hosted job trains when the request leaves them out.
SELF_HOSTED_DEFAULT_EPOCHS: int = SelfHostedTrainingConfig.model_fields["n_epochs"].default


class RulesUnavailable(Exception):
    """No dataset rules for this provider and base model; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ExampleCounter(Protocol):
    def count(self, example: Mapping[str, Any], parts: ExampleTexts) -> ExampleTokens:
        """`parts` are the example's texts, already extracted for the PII scan."""
        ...


class DatasetRules(Protocol):
    @property
    def tokenizer_name(self) -> str:
        """What the token statistics name as their encoding."""
        ...

    @property
    def token_limit(self) -> int:
        """The longest example (sequence) the provider trains on, in tokens."""
        ...

    @property
    def limit_known(self) -> bool:
        """False when `token_limit` is a conservative stand-in for an unknown one."""
        ...

    @property
    def max_upload_bytes(self) -> int: ...

    def counter(self, fmt: DatasetFormat) -> ExampleCounter:
        """A fresh counter for one pass over one file (not shared between threads)."""
        ...

    def estimate_cost(self, stats: TokenStats, n_epochs: int | None) -> CostEstimate: ...


class _TiktokenCounter:
    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    def count(self, example: Mapping[str, Any], parts: ExampleTexts) -> ExampleTokens:
        tokens = self._counter.count(parts)
        return ExampleTokens(tokens=tokens, longest=tokens)


@dataclass(frozen=True)
class OpenAiRules:
    base_model: str
    settings: Settings

    @property
    def tokenizer_name(self) -> str:
        return encoding_for_model(self.base_model, self.settings.dataset_encodings_dir).name

    @property
    def token_limit(self) -> int:
        return per_example_token_limit(self.base_model) or DEFAULT_PER_EXAMPLE_TOKEN_LIMIT

    @property
    def limit_known(self) -> bool:
        return per_example_token_limit(self.base_model) is not None

    @property
    def max_upload_bytes(self) -> int:
        return self.settings.dataset_max_bytes

    def counter(self, fmt: DatasetFormat) -> ExampleCounter:
        encoding = encoding_for_model(self.base_model, self.settings.dataset_encodings_dir)
        return _TiktokenCounter(TokenCounter(encoding))

    def estimate_cost(self, stats: TokenStats, n_epochs: int | None) -> CostEstimate:
        return estimate_cost(self.base_model, stats, n_epochs)


class _ModelCounter:
    def __init__(self, counter: ModelTokenCounter) -> None:
        self._counter = counter

    def count(self, example: Mapping[str, Any], parts: ExampleTexts) -> ExampleTokens:
        return self._counter.count(example)


@dataclass(frozen=True)
class SelfHostedRules:
    base_model: str
    model: CatalogueModel
    pool_name: str
    pool: GpuPool
    template: str
    tokenizer_special_tokens: Mapping[str, str]
    job_max_seq_length: int | None
    settings: Settings
    model_dir: Path = field(repr=False)  # a server path: never in a message or report

    @property
    def tokenizer_name(self) -> str:
        return f"{self.base_model} tokenizer"

    @property
    def token_limit(self) -> int:
        limit = self.model.max_seq_length
        if self.job_max_seq_length is not None:
            limit = min(limit, self.job_max_seq_length)
        return limit

    @property
    def limit_known(self) -> bool:
        return True

    @property
    def max_upload_bytes(self) -> int:
        # The file is spooled and copied to the artifact store like OpenAI's upload, so
        # the same bound on what one job may bring applies.
        return self.settings.dataset_max_bytes

    def counter(self, fmt: DatasetFormat) -> ExampleCounter:
        template = ChatTemplate(self.template, self.tokenizer_special_tokens)
        return _ModelCounter(ModelTokenCounter(load_tokenizer(self.model_dir), template, fmt))

    def estimate_cost(self, stats: TokenStats, n_epochs: int | None) -> CostEstimate:
        return estimate_gpu_cost(
            self.base_model,
            stats,
            SELF_HOSTED_DEFAULT_EPOCHS if n_epochs is None else n_epochs,
            pool_name=self.pool_name,
            tokens_per_second=self.pool.tokens_per_second,
            hourly_price_usd=self.pool.hourly_price_usd,
            epochs_source="default" if n_epochs is None else "explicit",
        )


def dataset_rules(
    provider: Provider | str,
    base_model: str,
    settings: Settings,
    *,
    max_seq_length: int | None = None,
) -> DatasetRules:
    """The rules for a job; `max_seq_length` is the job's own limit, where it sets one."""
    if provider == Provider.openai:
        return OpenAiRules(base_model, settings)
    if provider == Provider.self_hosted:
        return self_hosted_rules(base_model, settings, max_seq_length=max_seq_length)
    raise RulesUnavailable(
        "provider_unsupported",
        f"provider '{str(provider)[:40]}' has no dataset rules in this deployment",
    )


def self_hosted_rules(
    base_model: str, settings: Settings, *, max_seq_length: int | None = None
) -> SelfHostedRules:
    catalogue = _catalogue(settings)
    model = catalogue.model(base_model)
    if model is None:
        raise RulesUnavailable(
            "base_model_unknown",
            f"baseModel '{base_model[:80]}' is unknown to self_hosted (not in this"
            " deployment's base-model catalogue)",
        )
    try:
        model_dir = local_model_dir(model, settings.self_hosted_hf_cache_dir)
        if not (model_dir / "tokenizer.json").is_file():
            raise BaseModelFilesMissing("the model's folder has no tokenizer.json")
        template = template_source(model.chat_template, model_dir)
        config = tokenizer_config(model_dir)
    except (BaseModelFilesMissing, ChatTemplateMissing) as err:
        raise RulesUnavailable(
            "base_model_files_missing",
            f"baseModel '{base_model[:80]}': {err}; an operator must provide its files",
        ) from None
    return SelfHostedRules(
        base_model=base_model,
        model=model,
        pool_name=model.gpu_pool,
        pool=catalogue.pool_for(model),
        template=template,
        tokenizer_special_tokens=special_tokens(config),
        job_max_seq_length=max_seq_length,
        settings=settings,
        model_dir=model_dir,
    )


def _catalogue(settings: Settings) -> BaseModelCatalogue:
    path = settings.self_hosted_catalogue_file
    if path is None:
        raise RulesUnavailable(
            "provider_unsupported", "this deployment has no self-hosted base-model catalogue"
        )
    try:
        return load_catalogue(path)
    except (OSError, ValueError, yaml.YAMLError) as err:
        # ValueError: the catalogue's validation; neither message is shown (paths, values).
        raise RulesUnavailable(
            "base_model_catalogue_invalid",
            f"the self-hosted base-model catalogue cannot be read ({type(err).__name__});"
            " an operator must fix it",
        ) from None
