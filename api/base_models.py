"""Whether the provider knows a job's base model, asked at submit so a typo is a 422 rather
than a job that fails minutes later.

The self-hosted provider's models are the deployment's catalogue: a name outside it is
refused, with some of the names it holds.

For OpenAI, only a definite "no such model" (404) refuses a job. When the provider cannot answer
(unreachable, slow, rate limited) the job is accepted and its validate step decides. Known
models are remembered briefly; unknown ones are not, so a model that appears (a fine-tune
that just finished) is accepted at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import openai
import yaml
from openai import AsyncOpenAI
from pydantic import ValidationError

from api.errors import ApiError
from core.base_model_catalogue import load_catalogue
from core.models import Provider

log = logging.getLogger("api.base_models")

# Submit waits at most this long for the provider's answer.
LOOKUP_TIMEOUT_SECONDS = 5.0
# Bounds the memory of known models, whatever names callers send.
MAX_REMEMBERED = 1024
# How many of the catalogue's names a refusal lists.
NAMES_SHOWN = 5


class CatalogueUnreadable(Exception):
    """The deployment's catalogue file is missing or invalid (a configuration error)."""


def catalogue_problem(catalogue_file: Path, model: str) -> str | None:
    """Why `model` cannot be a self-hosted job's base model, or None when the catalogue
    has it. The answer names catalogue entries, never where the catalogue or weights are."""
    try:
        catalogue = load_catalogue(catalogue_file)
    except (OSError, yaml.YAMLError, ValidationError) as err:
        log.error("self-hosted catalogue unreadable (%s)", type(err).__name__)
        raise CatalogueUnreadable from None
    if catalogue.model(model) is not None:
        return None
    names = sorted(catalogue.models)
    shown = ", ".join(names[:NAMES_SHOWN]) or "none"
    if len(names) > NAMES_SHOWN:
        shown += f" and {len(names) - NAMES_SHOWN} more"
    return f"baseModel: not a base model of this deployment's self-hosted catalogue ({shown})"


class BaseModelCheck:
    def __init__(
        self,
        client: AsyncOpenAI,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client.with_options(max_retries=0, timeout=LOOKUP_TIMEOUT_SECONDS)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._known_until: dict[str, float] = {}

    async def is_unknown(self, model: str) -> bool:
        """True only when the provider says it has no such model."""
        now = self._clock()
        if self._known_until.get(model, 0.0) > now:
            return False
        try:
            await self._client.models.retrieve(model)
        except openai.NotFoundError:
            return True
        except ValueError:
            return True  # a name no URL can carry ('.', '..'): no model has it
        except openai.OpenAIError as err:
            log.info("base model lookup failed (%s); accepting the job", type(err).__name__)
            return False
        self._remember(model, now)
        return False

    def _remember(self, model: str, now: float) -> None:
        if len(self._known_until) >= MAX_REMEMBERED:
            self._known_until = {m: t for m, t in self._known_until.items() if t > now}
            if len(self._known_until) >= MAX_REMEMBERED:
                self._known_until.clear()
        self._known_until[model] = now + self._cache_seconds


async def refuse_unknown_base_model(
    check: BaseModelCheck, catalogue_file: Path | None, provider: Provider, model: str
) -> None:
    """422 when the job's provider has no such base model: the catalogue answers for the
    self-hosted provider (served only with one), the provider's model list for OpenAI."""
    if provider is Provider.self_hosted and catalogue_file is not None:
        try:
            problem = catalogue_problem(catalogue_file, model)
        except CatalogueUnreadable:
            raise ApiError(
                503, "catalogue_unavailable", "the self-hosted base model catalogue is unreadable"
            ) from None
        if problem is not None:
            raise ApiError(422, "base_model_unknown", problem)
    elif await check.is_unknown(model):
        raise ApiError(
            422,
            "base_model_unknown",
            f"baseModel: {provider.value} has no such model (see its model list)",
        )
