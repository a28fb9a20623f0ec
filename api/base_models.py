"""Whether the provider knows a job's base model, asked at submit so a typo is a 422 rather
than a job that fails minutes later.

Only a definite "no such model" (404) refuses a job. When the provider cannot answer
(unreachable, slow, rate limited) the job is accepted and its validate step decides. Known
models are remembered briefly; unknown ones are not, so a model that appears (a fine-tune
that just finished) is accepted at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import openai
from openai import AsyncOpenAI

log = logging.getLogger("api.base_models")

# Submit waits at most this long for the provider's answer.
LOOKUP_TIMEOUT_SECONDS = 5.0
# Bounds the memory of known models, whatever names callers send.
MAX_REMEMBERED = 1024


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
