"""Which remote dataset URIs a tenant may read: the deployment's prefix allowlist plus the
tenant's own (settings `dataset_allowed_prefixes`, `dataset_tenant_prefixes`).

A prefix is matched by parts, not as a string, so `https://data.example.com` never admits
`https://data.example.com.evil.net/`. Its path matches whole segments: `s3://b/team` admits
`s3://b/team/x.jsonl` but not `s3://b/team-other.jsonl` (end a prefix with `/`, or give
just `s3://b`, to admit more). A prefix without a host (`https://`, `s3://`) admits any host
of that scheme; https hosts admitted that way must still be public (see netguard), while a
prefix that names its host is an explicit trust in it. Local paths are governed by the
dataset root alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from core.dataset_uri import DatasetUriError, has_dot_segments, redact_uri
from core.settings import Settings

REMOTE_SCHEMES = ("s3", "https")
_DEFAULT_PORTS = {"https": 443}


@dataclass(frozen=True)
class Prefix:
    scheme: str
    host: str | None  # None: any host of the scheme
    port: int | None
    path: str

    def matches(self, uri: str) -> bool:
        parts = urlsplit(uri)
        if parts.scheme != self.scheme:
            return False
        if self.host is not None:
            host = (parts.hostname or "").rstrip(".")
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
            if host != self.host or port != self.port:
                return False
        path = parts.path
        if not self.path or self.path.endswith("/"):
            return path.startswith(self.path)
        return path == self.path or path.startswith(self.path + "/")


def parse_prefix(text: str) -> Prefix | None:
    """A configured prefix, or None when it names no remote scheme (ignored)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in REMOTE_SCHEMES:
        return None
    host = (parts.hostname or "").rstrip(".") or None
    port = (parts.port or _DEFAULT_PORTS.get(parts.scheme)) if host else None
    return Prefix(scheme=parts.scheme, host=host, port=port, path=parts.path)


def prefixes_for(settings: Settings, tenant_id: str) -> list[Prefix]:
    configured = [
        *settings.dataset_allowed_prefixes,
        *settings.dataset_tenant_prefixes.get(tenant_id, []),
    ]
    return [p for p in (parse_prefix(text) for text in configured) if p is not None]


def check_remote_access(uri: str, prefixes: list[Prefix], tenant_id: str) -> Prefix:
    """The allowlisted prefix that admits `uri`; `dataset_access_denied` when none does."""
    if has_dot_segments(urlsplit(uri).path):
        raise DatasetUriError(
            "datasetUri must not contain '.' or '..' path segments", code="dataset_access_denied"
        )
    for prefix in prefixes:
        if prefix.matches(uri):
            return prefix
    raise DatasetUriError(
        f"datasetUri {redact_uri(uri)} is not under any dataset prefix allowed for tenant "
        f"'{tenant_id}'",
        code="dataset_access_denied",
    )


def names_trusted_host(uri: str, prefixes: list[Prefix]) -> bool:
    """True when a prefix that names this URI's host admits it (no address vetting then)."""
    return any(p.host is not None and p.matches(uri) for p in prefixes)
