"""Fault injection shared by both emulators: one rule model and one set of control routes.

A test adds a rule with `POST /_emulator/faults`; for every request it serves, an emulator asks
its `FaultRegistry` for a `FaultPlan` (what to wait, which error to answer) and renders the
error in its own wire format. A rule stays listed once used up, with its `seen` and `injected`
counts, until it is removed or the faults are cleared.

Control routes (never authenticated, counted or faulted):

- `POST /_emulator/faults` with a `FaultSpec` body: the new rule (`id`, its spec, `seen`,
  `injected`). Fields the body leaves out take the emulator's defaults.
- `GET /_emulator/faults`: `{"faults": [rule, ...]}`.
- `DELETE /_emulator/faults`: drop every rule; `{"cleared": n}` counts those not used up.
- `DELETE /_emulator/faults/{id}`: `{"id", "deleted": true}`, or 404.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError, field_validator

CONTROL_PREFIX = "/_emulator"
DOWN = 0

FaultMode = Literal["judge_garbage"]


class FaultSpec(BaseModel):
    """One fault rule, as posted to `/_emulator/faults`."""

    path_prefix: str = "/"
    method: str | None = None
    # None: no error (only the delays); 0: the service is down, whatever the path or method;
    # otherwise the 4xx/5xx status to answer.
    status: int | None = None
    retry_after: float | None = Field(default=None, ge=0)
    # Deterministic: with rate r, exactly one matching call in every 1/r fires.
    rate: float = Field(default=1.0, gt=0, le=1)
    count: int | None = Field(default=None, ge=0)
    delay_seconds: float = Field(default=0.0, ge=0)
    # Served after the handler ran: the request takes effect, its answer comes late.
    after_commit_delay_seconds: float = Field(default=0.0, ge=0)
    # Not an error but altered content, which the handler asks for by name.
    mode: FaultMode | None = None
    message: str | None = None

    @field_validator("method")
    @classmethod
    def _upper_method(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @field_validator("status")
    @classmethod
    def _error_status(cls, value: int | None) -> int | None:
        if value is not None and value != DOWN and not 400 <= value <= 599:
            raise ValueError("status must be 0 (down) or a 4xx/5xx status")
        return value


@dataclass
class FaultRule:
    id: str
    spec: FaultSpec
    prefix: str
    seen: int = 0
    injected: int = 0

    @property
    def spent(self) -> bool:
        return self.spec.count is not None and self.injected >= self.spec.count

    def matches(self, method: str, path: str) -> bool:
        if self.spec.status == DOWN:
            return True
        if self.spec.method and self.spec.method != method.upper():
            return False
        return path.startswith(self.prefix)

    def fire(self) -> bool:
        if self.spent:
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
    """What the rules matching one request decided."""

    delay_seconds: float = 0.0
    after_commit_delay_seconds: float = 0.0
    error: FaultSpec | None = None
    fired: list[str] = field(default_factory=list)


def retry_after_headers(spec: FaultSpec) -> dict[str, str]:
    """`retry-after` in whole seconds, and in milliseconds when that rounds."""
    if spec.retry_after is None:
        return {}
    headers = {"retry-after": str(max(0, math.ceil(spec.retry_after)))}
    if spec.retry_after != int(spec.retry_after):
        headers["retry-after-ms"] = str(int(spec.retry_after * 1000))
    return headers


class FaultRegistry:
    """An emulator's fault rules.

    `defaults` fill the fields a posted rule leaves out; `root` is prepended to path prefixes
    outside it (so `/chat/completions` means `/v1/chat/completions` to the OpenAI emulator).
    """

    def __init__(self, *, defaults: Mapping[str, Any] | None = None, root: str = "") -> None:
        self.defaults = dict(defaults or {})
        self.root = root
        self._rules: list[FaultRule] = []
        self._next = 1

    def parse(self, body: Mapping[str, Any]) -> FaultSpec:
        return FaultSpec.model_validate({**self.defaults, **body})

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(id=f"fault-{self._next}", spec=spec, prefix=self._scoped(spec.path_prefix))
        self._next += 1
        self._rules.append(rule)
        return rule

    def remove(self, fault_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != fault_id]
        return len(self._rules) != before

    def clear(self) -> int:
        live = len(self.active())
        self._rules.clear()
        return live

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def active(self) -> list[FaultRule]:
        return [r for r in self._rules if not r.spent]

    def plan(self, method: str, path: str) -> FaultPlan:
        """Fire the transport-level rules (all but `mode` rules) matching a request."""
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
                plan.error = rule.spec
        return plan

    def take_mode(self, mode: FaultMode, method: str, path: str) -> int | None:
        """If a `mode` rule fires for this request, its 1-based injection number."""
        for rule in self._rules:
            if rule.spec.mode == mode and rule.matches(method, path) and rule.fire():
                return rule.injected
        return None

    def _scoped(self, prefix: str) -> str:
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        # Paths under "/_" are the emulator's own, never the API's.
        if self.root and not prefix.startswith((self.root, "/_")):
            prefix = self.root + prefix
        return prefix


Reject = Callable[[int, str], Exception]
"""Builds the emulator's own error (status, message) for a refused control call."""


def fault_routes(faults: FaultRegistry, reject: Reject, created_status: int) -> APIRouter:
    """The `/_emulator/faults` control routes over one emulator's rules."""
    router = APIRouter(prefix=f"{CONTROL_PREFIX}/faults", tags=["emulator"])

    # The body is parsed here (so a bad rule is the emulator's own 400), and documented here.
    body_schema = {"content": {"application/json": {"schema": FaultSpec.model_json_schema()}}}

    @router.post("", status_code=created_status, openapi_extra={"requestBody": body_schema})
    async def add_fault(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise reject(400, "Invalid fault: expected a JSON object.")
        try:
            spec = faults.parse(body)
        except ValidationError as exc:
            raise reject(400, f"Invalid fault: {exc.errors(include_url=False)}") from None
        return faults.add(spec).to_api()

    @router.get("")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [rule.to_api() for rule in faults.rules()]}

    @router.delete("")
    async def clear_faults() -> dict[str, Any]:
        return {"cleared": faults.clear()}

    @router.delete("/{fault_id}")
    async def delete_fault(fault_id: str) -> dict[str, Any]:
        if not faults.remove(fault_id):
            raise reject(404, f"No such fault: {fault_id}")
        return {"id": fault_id, "deleted": True}

    return router
