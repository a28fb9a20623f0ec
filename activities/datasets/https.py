"""`https://` datasets through httpx, streamed, with SSRF guards.

Every hop (the URI and each redirect, at most `MAX_REDIRECTS`) must be https. A hop admitted
by an allowlisted prefix that names its host is fetched as is; any other hop is fetched only
from a public address, and the connection goes to the address we vetted (TLS still checks
the certificate against the host name) so DNS cannot answer differently the second time.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from activities.datasets import netguard
from activities.datasets.access import Prefix, names_trusted_host
from activities.datasets.source import CHUNK_BYTES, DatasetFetchUnavailable, RawSource
from core.dataset_uri import DatasetUriError, check_uri_syntax, redact_uri
from core.settings import Settings

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def _tls_context(settings: Settings) -> ssl.SSLContext | bool:
    if settings.dataset_https_ca_bundle:
        return ssl.create_default_context(cafile=settings.dataset_https_ca_bundle)
    return True


def _cert_failure(err: BaseException) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_failure(err: httpx.HTTPError, shown: str) -> Exception:
    if _cert_failure(err):
        return DatasetUriError(
            f"the TLS certificate of {shown} could not be verified", code="dataset_tls_error"
        )
    if isinstance(err, httpx.TransportError):
        return DatasetFetchUnavailable(f"fetching {shown} failed: {type(err).__name__}")
    return DatasetUriError(f"fetching {shown} failed: {type(err).__name__}", "dataset_fetch_failed")


def _status_failure(status: int, shown: str) -> Exception | None:
    if 200 <= status < 300:
        return None
    if status in (404, 410):
        return DatasetUriError(f"{shown} does not exist (HTTP {status})", "dataset_not_found")
    if status in (401, 403):
        return DatasetUriError(
            f"the server refused access to {shown} (HTTP {status})", "dataset_access_denied"
        )
    if status in _TRANSIENT_STATUSES or status >= 500:
        return DatasetFetchUnavailable(f"the server failed serving {shown} (HTTP {status})")
    return DatasetUriError(f"the server answered HTTP {status} for {shown}", "dataset_fetch_failed")


async def _send(
    client: httpx.AsyncClient, url: httpx.URL, prefixes: list[Prefix]
) -> httpx.Response:
    """GET `url` (streamed), connecting only to vetted addresses unless its host is trusted."""
    shown = redact_uri(str(url))
    if names_trusted_host(str(url), prefixes):
        try:
            return await client.send(client.build_request("GET", url), stream=True)
        except httpx.HTTPError as err:
            raise _transport_failure(err, shown) from None
    host = url.raw_host.decode("ascii")
    port = url.port or 443
    addresses = await netguard.vetted_addresses(host, port)
    host_header = f"[{host}]" if ":" in host else host
    if port != 443:
        host_header = f"{host_header}:{port}"
    failure: Exception | None = None
    for address in addresses:
        request = client.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": host_header},
            extensions={"sni_hostname": host},
        )
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            failure = _transport_failure(err, shown)
            if isinstance(failure, DatasetUriError):
                break
        except httpx.HTTPError as err:
            raise _transport_failure(err, shown) from None
    assert failure is not None
    raise failure


def _next_hop(url: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise DatasetUriError(
            f"{redact_uri(str(url))} redirected without a Location", "dataset_fetch_failed"
        )
    target = url.join(location)
    if target.scheme != "https":
        raise DatasetUriError(
            f"{redact_uri(str(url))} redirected to a non-https URL; refused",
            code="dataset_access_denied",
        )
    check_uri_syntax(str(target))
    return target


async def _body(response: httpx.Response, shown: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            yield chunk
    except httpx.DecodingError:
        raise DatasetUriError(
            f"{shown} sent a body that does not decode", "dataset_fetch_failed"
        ) from None
    except httpx.HTTPError as err:
        raise _transport_failure(err, shown) from None


@asynccontextmanager
async def open_https(
    uri: str, prefixes: list[Prefix], settings: Settings
) -> AsyncIterator[RawSource]:
    async with httpx.AsyncClient(
        verify=_tls_context(settings),
        timeout=httpx.Timeout(settings.dataset_fetch_timeout_seconds),
        follow_redirects=False,
        trust_env=False,  # an env proxy would connect on our behalf, past the address check
    ) as client:
        url = httpx.URL(uri)
        for hop in range(MAX_REDIRECTS + 1):
            try:
                response = await _send(client, url, prefixes)
            except DatasetUriError as err:
                if hop == 0:
                    raise
                raise DatasetUriError(
                    f"following a redirect to {redact_uri(str(url))}: {err}", err.code
                ) from None
            try:
                if response.status_code in _REDIRECTS:
                    url = _next_hop(url, response)
                    continue
                shown = redact_uri(str(url))
                failure = _status_failure(response.status_code, shown)
                if failure is not None:
                    raise failure
                size = response.headers.get("content-length")
                encoded = response.headers.get("content-encoding", "identity") != "identity"
                yield RawSource(
                    name=url.path.rsplit("/", 1)[-1] or url.host,
                    size=int(size) if size and size.isdigit() and not encoded else None,
                    stream=_body(response, shown),
                )
                return
            finally:
                await response.aclose()
        raise DatasetUriError(
            f"{redact_uri(uri)} redirected more than {MAX_REDIRECTS} times",
            code="dataset_too_many_redirects",
        )
