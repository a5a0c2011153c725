"""Which address a request comes from: the peer, or what trusted proxies forwarded for it.

X-Forwarded-For is written by the client first and appended to by each proxy on the way, so only
its right end is trustworthy, and only as far as the proxies we trust wrote it. The address that
counts is the right-most one that is not a trusted proxy; with no trusted proxies (the default)
the header is ignored and the peer is the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network


def parse_networks(text: str) -> list[Network]:
    """`10.0.0.0/8, 192.0.2.7, ::1`: addresses and CIDR blocks, comma-separated (ValueError if bad)."""
    return [ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _address(text: str) -> IPv4Address | IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> str | None:
    """The client's address for `peer` carrying these X-Forwarded-For header values."""
    if peer is None or not proxies:
        return peer
    nearest = _address(peer)
    if nearest is None or not _trusted(nearest, proxies):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # a proxy we trust wrote garbage: stop at the last address we know
            break
        nearest = address
        if not _trusted(address, proxies):
            break
    return str(nearest)
