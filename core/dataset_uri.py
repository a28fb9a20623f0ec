"""Dataset URI syntax: which schemes exist, what a well-formed one looks like, how to print
one without leaking credentials, and the final error every dataset reader raises. Pure
functions, shared by the API (checked at submit time) and the dataset activities."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

SUPPORTED_SCHEMES = ("s3", "https", "file")
MAX_URI_LENGTH = 4096
# NAME_MAX of the common Linux file systems: a longer local segment can never be opened.
MAX_PATH_SEGMENT_BYTES = 255


class DatasetUriError(ValueError):
    """The URI is malformed, uses an unsupported scheme, or points outside what is allowed.

    Final (never retried); `code` is the API's error code for it.
    """

    def __init__(self, message: str, code: str = "dataset_uri_invalid") -> None:
        super().__init__(message)
        self.code = code


def scheme_of(uri: str) -> str:
    """The URI's scheme, or "" for a plain path."""
    return urlsplit(uri).scheme


def redact_uri(uri: str) -> str:
    """The URI without userinfo, query or fragment: what messages and logs may show."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return SplitResult(parts.scheme, netloc, parts.path, "", "").geturl()


def has_dot_segments(path: str) -> bool:
    """True when a path has `.` or `..` segments, also percent-encoded (they would be
    normalised away by some servers and escape an allowlisted prefix)."""
    return any(segment in (".", "..") for segment in unquote(path).split("/"))


def check_uri_syntax(uri: str) -> None:
    """Refuse a URI that can never be fetched: unknown scheme or missing parts.

    Access (allowlists, the dataset root) is checked at fetch time, not here.
    """
    if not uri or not uri.strip():
        raise DatasetUriError("datasetUri is empty")
    if len(uri) > MAX_URI_LENGTH:
        raise DatasetUriError(f"datasetUri is longer than {MAX_URI_LENGTH} characters")
    if any(ord(ch) < 32 for ch in uri):
        raise DatasetUriError("datasetUri contains control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in uri):
        raise DatasetUriError("datasetUri is not valid Unicode")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise DatasetUriError("datasetUri is not a valid URI") from None
    scheme = parts.scheme
    if scheme and scheme not in SUPPORTED_SCHEMES:
        raise DatasetUriError(
            f"datasetUri scheme '{scheme}' is not supported "
            f"(supported: {', '.join(f'{s}://' for s in SUPPORTED_SCHEMES)} and plain paths)",
            code="dataset_scheme_unsupported",
        )
    if scheme == "s3":
        if not parts.hostname or not parts.path.lstrip("/"):
            raise DatasetUriError("an s3 datasetUri needs a bucket and a key: s3://bucket/key")
        if port is not None or parts.username is not None:
            raise DatasetUriError("an s3 datasetUri names a bucket, not a host: s3://bucket/key")
        if parts.query or parts.fragment:
            raise DatasetUriError("an s3 datasetUri takes no query or fragment")
    elif scheme == "https":
        if not parts.hostname:
            raise DatasetUriError("an https datasetUri needs a host")
    elif scheme == "file":
        if not parts.path.strip("/") and not parts.netloc:
            raise DatasetUriError("a file datasetUri needs a path")
    if scheme in ("", "file"):
        _check_local_path(unquote(parts.path if scheme else uri))


def _check_local_path(path: str) -> None:
    """Refuse a local path no file system can hold, before any file-system call."""
    if any(ord(ch) < 32 for ch in path):
        raise DatasetUriError("datasetUri contains control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in path):
        raise DatasetUriError("datasetUri is not valid Unicode")
    longest = max((len(s.encode("utf-8")) for s in path.split("/")), default=0)
    if longest > MAX_PATH_SEGMENT_BYTES:
        raise DatasetUriError(
            f"datasetUri has a path segment of {longest} bytes; the limit is"
            f" {MAX_PATH_SEGMENT_BYTES}"
        )
