"""A gate shared by the calls of one activity: honours the provider's x-ratelimit headers.

OpenAI reports the budget left in the current window on every response
(`x-ratelimit-remaining-requests` / `-tokens`) and when it refills
(`x-ratelimit-reset-requests` / `-tokens`, Go-style durations like "1s", "6m0s", "20ms").
When a budget reaches 0, new calls wait for the reset instead of collecting 429s;
calls already in flight are left alone.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_BUDGETS = ("requests", "tokens")


def parse_reset(value: str | None) -> float | None:
    """Seconds in a reset header ("1s", "6m0s", "1h2m3.5s", "20ms", or a bare number)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _remaining(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimitGate:
    """Holds new calls back while a provider budget is exhausted.

    `max_pause_seconds` bounds a single pause, so one odd header cannot stall a run.
    """

    def __init__(
        self,
        *,
        max_pause_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_pause = max_pause_seconds
        self._clock = clock
        self._closed_until = 0.0
        self.pauses = 0  # how many times a header closed the gate (for reports and tests)

    def observe(self, headers: Mapping[str, str]) -> float:
        """Read one response's headers; return the pause they impose (0 when none)."""
        pause = 0.0
        for budget in _BUDGETS:
            remaining = _remaining(headers.get(f"x-ratelimit-remaining-{budget}"))
            if remaining is None or remaining > 0:
                continue
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{budget}"))
            pause = max(pause, min(self._max_pause, 1.0 if reset is None else reset))
        if pause > 0:
            until = self._clock() + pause
            if until > self._closed_until:
                self._closed_until = until
                self.pauses += 1
        return pause

    def remaining_pause(self) -> float:
        return max(0.0, self._closed_until - self._clock())

    async def wait(self) -> None:
        """Return once the gate is open; a pause extended meanwhile is waited out too."""
        # The reopening time is a moving deadline, not an event: sleep until it, re-check.
        delay = self.remaining_pause()
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self.remaining_pause()
