"""What every dataset reader (file, s3, https) yields and raises.

Two error classes, because the activity treats them differently: `DatasetUriError`
(`core.dataset_uri`, since the API raises it too) is final (bad URI, refused, missing, too
large) and `DatasetFetchUnavailable` is worth retrying (timeouts, resets, 5xx). Messages
never carry credentials: callers pass redacted URIs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

CHUNK_BYTES = 1024 * 1024


class DatasetFetchUnavailable(RuntimeError):
    """The dataset's store failed in a way that may pass (timeout, reset, 5xx): retry."""

    def __init__(self, message: str, code: str = "dataset_store_unavailable") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RawSource:
    """An opened dataset: its name, its size when the store tells it, and its bytes."""

    name: str
    size: int | None
    stream: AsyncIterator[bytes]
