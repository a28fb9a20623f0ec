"""Errors raised by the Model Registry client.

The split mirrors how promotion retries: `RegistryUnavailable` (5xx, 408/429, timeouts,
connection failures, `RegistryVersionConflict`, `RegistryNotVisibleYet`) is worth retrying;
`RegistryClientError` (any other 4xx) is not, and carries the registry's own message.
Messages never contain credentials.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class for every error the registry client raises."""

    retryable: bool = True

    def __init__(self, status_code: int | None, message: str) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(f"[{status_code}] {message}" if status_code is not None else message)

    def __reduce__(self):  # keep the (status_code, message) signature picklable
        return (type(self), (self.status_code, self.message))


class RegistryClientError(RegistryError):
    """A 4xx answer: the request itself is wrong; repeating it will not help."""

    retryable = False


class RegistryNotFound(RegistryClientError):
    """404: the model, version or binding does not exist."""


class RegistryAlreadyExists(RegistryClientError):
    """400 "already exists": a duplicate model name, version hash/number or binding."""


class RegistryUnavailable(RegistryError):
    """5xx, 408/429, timeouts and connection errors: the registry may answer later."""

    retryable = True


class RegistryVersionConflict(RegistryUnavailable):
    """Concurrent promoters kept taking the version numbers we picked; try again later."""


class RegistryNotVisibleYet(RegistryUnavailable):
    """404 for an id the registry itself just returned: a registry that answers before it
    commits has not made the record visible yet. Retried, never final."""
