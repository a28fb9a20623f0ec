"""Keep https fetching away from the service's own network (SSRF): a host is fetched only
when every address it resolves to is public. The caller then connects to the vetted address
itself, so a second DNS answer (rebinding) cannot redirect the connection."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from activities.datasets.source import DatasetFetchUnavailable
from core.dataset_uri import DatasetUriError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_forbidden(address: IPAddress) -> bool:
    """Loopback, link-local, private (RFC 1918, fc00::/7), unspecified, multicast, and
    anything else not globally routable (CGNAT, documentation, reserved ranges)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_forbidden(mapped)
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno == socket.EAI_AGAIN:
            raise DatasetFetchUnavailable(f"DNS lookup of {host} failed for now") from None
        raise DatasetUriError(f"host {host} does not resolve", code="dataset_not_found") from None
    # Strip an IPv6 scope id ("fe80::1%eth0") before parsing.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def vetted_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host` to connect to, in resolver order; refused when any of them is
    not public (one private record is enough to reach inside)."""
    addresses = await resolve(host, port)
    if not addresses:
        raise DatasetUriError(f"host {host} does not resolve", code="dataset_not_found")
    if any(is_forbidden(a) for a in addresses):
        raise DatasetUriError(
            f"host {host} is or resolves to a non-public address (loopback, private, "
            "link-local, ...); allowlist it explicitly to fetch from it",
            code="dataset_access_denied",
        )
    return list(dict.fromkeys(addresses))
