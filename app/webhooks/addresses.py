"""Where a delivery may connect: public addresses only (in production), checked as the connection
is opened, and the connection opened to the address checked.

Registration refuses an endpoint whose URL names this machine or a private network
(`check_url`), but a public name can resolve inside later: a name the brand does not control any
more, or one that answers a public address at registration and 127.0.0.1 afterwards (DNS
rebinding). So the webhook client resolves each host itself, off the event loop
(`loop.getaddrinfo`), refuses the connection when any address the name resolves to is not public
(loopback, private, link-local, shared, reserved, multicast; an IPv4-mapped IPv6 address by the
IPv4 address it maps), and connects to the addresses it checked, never resolving the name again:
the check and the connection are one step inside the HTTP client's network backend
(httpcore's `AsyncNetworkBackend`), so nothing between them can redirect it. Connections stay
pooled per host name, so TLS still checks the certificate against the endpoint's name (SNI).

A refusal is `PrivateAddress`, an `httpx.ConnectError`: the delivery records it as a failed
attempt (`last_error` names the host and the address), retries it on its backoff and kills it
after `retry_for`, and no byte is sent. Outside production (`allow_private`), the embedded
default and the tests deliver to 127.0.0.1 as before, through the same pinned connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

# (host, port) -> the addresses it resolves to; an IP literal resolves to itself
Resolve = Callable[[str, int], Awaitable[list[str]]]


class PrivateAddress(httpx.ConnectError):
    """The endpoint's host resolves to an address that is not public: nothing was sent."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, not a public address: not sent")
        self.host = host
        self.address = address


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver, off the event loop (asyncio runs getaddrinfo in its thread pool)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """A globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a link-local zone: fe80::1%eth0
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with each host resolved and checked once per connection and
    the connection opened to the checked address."""

    def __init__(self, *, allow_private: bool, resolve: Resolve = system_resolve) -> None:
        self.allow_private = allow_private
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def checked(self, host: str, port: int, within: float | None) -> list[str]:
        try:
            async with asyncio.timeout(within):
                addresses = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"resolving {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self.allow_private:
            for address in addresses:
                if not is_public(address):
                    raise PrivateAddress(host, address)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:  # each was checked: any of them may take the connection
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose backend is `PinnedBackend`. (httpx takes no
    network backend of its own, so the pool it built is replaced by one that has it.)"""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolve = system_resolve,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify or httpx.create_ssl_context(),
            network_backend=PinnedBackend(allow_private=allow_private, resolve=resolve),
        )


def webhook_client(
    *,
    allow_private: bool,
    resolve: Resolve = system_resolve,
    verify: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The client deliveries go through: no proxy from the environment, no redirects followed,
    every connection to a checked address; certificates checked against the system's CAs (or
    `verify`'s) and the endpoint's host name."""
    return httpx.AsyncClient(
        transport=PinnedTransport(allow_private=allow_private, resolve=resolve, verify=verify),
        follow_redirects=False,
        trust_env=False,
    )
