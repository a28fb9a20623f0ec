"""Fault modes of a registry that answers before it commits (test controls only).

- Late visibility: a created model, version or binding is answered 201 at once but stays
  invisible (404 by id or name, absent from lists, "not found" when referenced) for the next
  `visible_after_reads` lookups that would have found it, and until `visible_after_seconds`
  after its creation.
- Stall on a duplicate: a create whose unique key (model name; version hash or number;
  binding per version and provider) collides with a record that is not visible yet hangs,
  like an insert waiting on an uncommitted row, for `stall_seconds` (or until its client
  goes away or the mode is cleared), then answers 400 "already exists".

Set with `PUT /_emulator/consistency` (or the emulator's settings), clear with
`DELETE /_emulator/consistency`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field


class ConsistencySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visible_after_reads: int = Field(default=0, ge=0, le=1000)
    visible_after_seconds: float = Field(default=0.0, ge=0, le=3600)
    stall_seconds: float = Field(default=60.0, gt=0, le=3600)


class DuplicateWhileUncommitted(Exception):
    """A create collided with a record that is not committed (visible) yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Pending:
    reads_left: int
    visible_at: float


class Visibility:
    """Which created records are not visible yet, and the requests stalled on them."""

    def __init__(self, default: ConsistencySpec | None = None) -> None:
        self.default = default or ConsistencySpec()
        self.spec = self.default
        self.pending: dict[tuple[str, int], _Pending] = {}
        self.stalled_calls = 0
        self.stalled_now = 0
        self.hidden_reads = 0
        self._release = asyncio.Event()

    def configure(self, spec: ConsistencySpec) -> None:
        self.spec = spec

    def clear(self) -> None:
        """Back to the configured mode (by default: commit before answering); make every
        record visible and release stalled calls."""
        self.spec = self.default
        self.pending.clear()
        self._release.set()
        self._release = asyncio.Event()

    def reset(self) -> None:
        self.clear()
        self.stalled_calls = 0
        self.hidden_reads = 0

    def track(self, kind: str, record_id: int) -> None:
        """A record was just created: hide it as the mode says."""
        spec = self.spec
        if spec.visible_after_reads or spec.visible_after_seconds:
            self.pending[(kind, record_id)] = _Pending(
                reads_left=spec.visible_after_reads,
                visible_at=time.monotonic() + spec.visible_after_seconds,
            )

    def is_pending(self, kind: str, record_id: int) -> bool:
        """Whether the record is still uncommitted (does not count as a read)."""
        pending = self.pending.get((kind, record_id))
        if pending is None:
            return False
        if pending.reads_left <= 0 and time.monotonic() >= pending.visible_at:
            del self.pending[(kind, record_id)]
            return False
        return True

    def visible(self, kind: str, record_id: int) -> bool:
        """A lookup that would find the record: counts as one read while it is hidden."""
        if not self.is_pending(kind, record_id):
            return True
        pending = self.pending[(kind, record_id)]
        pending.reads_left = max(0, pending.reads_left - 1)
        self.hidden_reads += 1
        return False

    async def stall(self, request: Request) -> None:
        """Hang like an insert blocked on an uncommitted duplicate."""
        self.stalled_calls += 1
        self.stalled_now += 1
        release = self._release
        deadline = time.monotonic() + self.spec.stall_seconds
        try:
            while time.monotonic() < deadline and not release.is_set():
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(release.wait(), timeout=0.1)
                except TimeoutError:
                    pass
        finally:
            self.stalled_now -= 1

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.spec.model_dump(),
            "pending_records": len(self.pending),
            "hidden_reads": self.hidden_reads,
            "stalled_calls": self.stalled_calls,
            "stalled_now": self.stalled_now,
        }
