"""Per-test fault injection: error statuses, slow responses, garbage judge output."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from .errors import APIError

FaultMode = Literal["judge_garbage"]


class FaultSpec(BaseModel):
    """Body of ``POST /_emulator/faults``."""

    path_prefix: str = "/v1/"
    method: str | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    rate: float = Field(default=1.0, gt=0, le=1)
    count: int | None = Field(default=None, ge=0)
    delay_seconds: float = Field(default=0.0, ge=0)
    after_commit_delay_seconds: float = Field(default=0.0, ge=0)
    mode: FaultMode | None = None
    message: str | None = None


@dataclass
class FaultRule:
    id: str
    spec: FaultSpec
    seen: int = 0
    injected: int = 0

    def matches(self, method: str, path: str) -> bool:
        prefix = self.spec.path_prefix
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        if not prefix.startswith("/v1") and not prefix.startswith("/_"):
            prefix = "/v1" + prefix
        if self.spec.method and self.spec.method.upper() != method.upper():
            return False
        return path.startswith(prefix)

    def fire(self) -> bool:
        """Deterministic: with rate r, exactly one matching call in every 1/r fires."""
        if self.spec.count is not None and self.injected >= self.spec.count:
            return False
        self.seen += 1
        rate = self.spec.rate
        fires = math.floor(self.seen * rate + 1e-9) > math.floor((self.seen - 1) * rate + 1e-9)
        if fires:
            self.injected += 1
        return fires

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "seen": self.seen,
            "injected": self.injected,
        }


@dataclass
class FaultPlan:
    """What the faults matching one request decided."""

    delay_seconds: float = 0.0
    after_commit_delay_seconds: float = 0.0
    error: APIError | None = None
    fired: list[str] = field(default_factory=list)


def fault_error(spec: FaultSpec) -> APIError:
    status = spec.status or 500
    headers: dict[str, str] = {}
    if spec.retry_after is not None:
        headers["retry-after"] = str(max(0, math.ceil(spec.retry_after)))
        if spec.retry_after != int(spec.retry_after):
            headers["retry-after-ms"] = str(int(spec.retry_after * 1000))
    if status == 429:
        reset = f"{spec.retry_after if spec.retry_after is not None else 1:g}s"
        headers.update(
            {
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": reset,
                "x-ratelimit-limit-tokens": "200000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": reset,
            }
        )
        wait = spec.retry_after if spec.retry_after is not None else 1
        return APIError(
            429,
            spec.message
            or (
                f"Rate limit reached for requests in organization org-emulator on requests per "
                f"min (RPM): Limit 500, Used 500, Requested 1. Please try again in {wait:g}s."
            ),
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if status == 503:
        return APIError(
            503,
            spec.message or "The server is overloaded or not ready yet.",
            type="server_error",
            headers=headers,
        )
    if status >= 500:
        return APIError(
            status,
            spec.message
            or "The server had an error while processing your request. Sorry about that!",
            type="server_error",
            headers=headers,
        )
    return APIError(
        status, spec.message or "Injected fault.", type="invalid_request_error", headers=headers
    )


class FaultRegistry:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next = 1

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(id=f"fault-{self._next}", spec=spec)
        self._next += 1
        self._rules.append(rule)
        return rule

    def remove(self, fault_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != fault_id]
        return len(self._rules) != before

    def clear(self) -> int:
        count = len(self._rules)
        self._rules.clear()
        return count

    def list(self) -> list[FaultRule]:
        return list(self._rules)

    def plan(self, method: str, path: str) -> FaultPlan:
        """Evaluate the transport-level faults (everything but `mode` faults) for a request."""
        plan = FaultPlan()
        for rule in self._rules:
            if rule.spec.mode is not None or not rule.matches(method, path):
                continue
            if not rule.fire():
                continue
            plan.fired.append(rule.id)
            plan.delay_seconds += rule.spec.delay_seconds
            plan.after_commit_delay_seconds += rule.spec.after_commit_delay_seconds
            if rule.spec.status is not None and plan.error is None:
                plan.error = fault_error(rule.spec)
        return plan

    def take_mode(self, mode: str, method: str, path: str) -> int | None:
        """If a `mode` fault fires for this request, its 1-based injection number."""
        for rule in self._rules:
            if rule.spec.mode == mode and rule.matches(method, path) and rule.fire():
                return rule.injected
        return None
