"""The response cache the harness reads before calling a model: the interface and its key.

A cached response is replayed for the exact same request (model, messages or input, and
every parameter that shapes the answer), so a re-run costs nothing and grades the same
text. Only usable responses are ever stored; errors are not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from store.completion_cache import CacheKind

# Bump when the key's composition changes, so old entries stop matching instead of lying.
KEY_VERSION = 1


class CompletionCache(Protocol):
    async def get(self, key: bytes) -> dict[str, Any] | None: ...

    async def put(
        self, key: bytes, *, kind: CacheKind, model: str, response: dict[str, Any]
    ) -> None: ...


def request_key(kind: CacheKind, params: Mapping[str, Any], scope: str | None = None) -> bytes:
    """sha256 of the canonical JSON of the request (key order and spacing do not matter).

    `scope` names the server for any endpoint but OpenAI's (a self-hosted base URL), so
    one model name served by two servers never shares an entry; OpenAI's keys have none,
    as they always had."""
    keyed: dict[str, Any] = {"v": KEY_VERSION, "kind": kind, "params": params}
    if scope is not None:
        keyed["scope"] = scope
    canonical = json.dumps(
        keyed,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


class MemoryCache:
    """A process-local cache (benchmarks and unit tests); first writer wins, as in PG."""

    def __init__(self) -> None:
        self.entries: dict[bytes, dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: bytes) -> dict[str, Any] | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def put(
        self, key: bytes, *, kind: CacheKind, model: str, response: dict[str, Any]
    ) -> None:
        self.entries.setdefault(key, response)
