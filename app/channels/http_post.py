"""The HTTP call every provider adapter makes: one POST with a time limit, where what the network
does (a timeout, a refused or dropped connection) is a RETRY Delivery instead of an exception."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import Self

import httpx

from app.channels.delivery import Delivery, Outcome

MAX_DETAIL = 500
MAX_RETRY_AFTER = timedelta(days=1)


def bounded(text: str) -> str:
    """A provider's message as Delivery.detail keeps it: at most 500 characters."""
    return text[:MAX_DETAIL]


def json_object(response: httpx.Response) -> dict[str, object]:
    """The answer's JSON object, or {} when it is not one."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def retry_after(response: httpx.Response) -> timedelta | None:
    """The wait a 429 or 503 asks for in Retry-After (seconds; an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)


def transient_status(response: httpx.Response) -> Delivery:
    """An HTTP answer without the provider's own code: 5xx and 429 are worth another try, any
    other status is a request the provider will refuse again."""
    status = response.status_code
    outcome = Outcome.RETRY if status >= 500 or status == 429 else Outcome.FAILED
    return Delivery(
        outcome,
        detail=bounded(f"HTTP {status}: {response.text}"),
        retry_after=retry_after(response),
    )


class HttpAdapter:
    """An adapter's HTTP client: the one passed in (shared, closed by its owner) or its own,
    closed by aclose() or by leaving `async with`."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        timeout: float,
        new_client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self._owns_client = client is None
        self._client = client if client is not None else new_client()
        self._timeout = timeout

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> httpx.Response | Delivery:
        try:
            return await self._client.post(
                url, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            return Delivery(
                Outcome.RETRY,
                detail=bounded(f"no answer within {self._timeout:g} s ({type(exc).__name__})"),
            )
        except httpx.TransportError as exc:  # refused, reset, closed before answering
            return Delivery(Outcome.RETRY, detail=bounded(f"{type(exc).__name__}: {exc}"))
