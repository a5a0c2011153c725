"""One change stream on `notifications` per process, fanned out in-process to subscribers by member.

Never a stream per subscriber: the database serves one cursor per API process however many
members are connected. After an error the stream resumes from its last resume token, so nothing
inserted while it restarts is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from pymongo.errors import PyMongoError

from app.db import Document, Mongo

log = logging.getLogger(__name__)


class SubscriberOverflow(Exception):
    """A subscriber fell too far behind; it is closed and should reconnect."""


class Subscription:
    """What one subscriber receives: the notifications of one member, in order.

    It waits on a future made only while it waits, over a plain list: an asyncio.Queue holds three
    deques of some 600 bytes each, and a process holds one subscription per live subscriber.
    """

    __slots__ = ("_ended", "_pending", "_waiter", "capacity", "hub", "member_id", "overflowed")

    def __init__(self, hub: NotificationHub, member_id: str, capacity: int) -> None:
        self.hub = hub
        self.member_id = member_id
        self.capacity = capacity
        self.overflowed = False
        self._pending: list[Document] = []
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, document: Document) -> None:
        if self._ended:
            return
        if len(self._pending) < self.capacity:
            self._pending.append(document)
        else:  # the subscriber reads what it has, then SubscriberOverflow
            self.overflowed = True
            self.hub.unsubscribe(self)
            self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def __aiter__(self) -> AsyncIterator[Document]:
        try:
            while True:
                if self._pending:
                    yield self._pending.pop(0)
                    continue
                if self._ended:
                    if self.overflowed:
                        raise SubscriberOverflow(self.member_id)
                    return
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        finally:
            self.hub.unsubscribe(self)

    def close(self) -> None:
        self.hub.unsubscribe(self)
        self._ended = True
        self._wake()


class NotificationHub:
    def __init__(self, mongo: Mongo, *, capacity: int = 256, retry_seconds: float = 0.5) -> None:
        self.mongo = mongo
        self.capacity = capacity
        self.retry_seconds = retry_seconds
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # Called with every inserted notification, any member's: operators' live counts. A
        # listener must not block (it runs in the stream's task); it keeps no queue to overflow.
        self._listeners: dict[str | None, set[Callable[[Document], None]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._resume_token: Mapping[str, Any] | None = None
        self.ready = asyncio.Event()
        self.restarts = 0

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    def subscribe(self, member_id: str) -> Subscription:
        subscription = Subscription(self, member_id, self.capacity)
        self._subscribers[member_id].add(subscription)
        return subscription

    def listen(
        self, listener: Callable[[Document], None], member_id: str | None = None
    ) -> Callable[[], None]:
        """Call `listener` with every notification inserted from now on (only `member_id`'s,
        if given); returns its remover."""
        self._listeners[member_id].add(listener)

        def remove() -> None:
            listeners = self._listeners.get(member_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[member_id]

        return remove

    def unsubscribe(self, subscription: Subscription) -> None:
        members = self._subscribers.get(subscription.member_id)
        if members is not None:
            members.discard(subscription)
            if not members:
                del self._subscribers[subscription.member_id]

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notification-hub")
            await asyncio.wait_for(self.ready.wait(), timeout=30)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.close()

    def _dispatch(self, document: Document) -> None:
        for subscription in list(self._subscribers.get(str(document.get("member_id")), ())):
            subscription.deliver(document)
        for key in (None, str(document.get("member_id"))):
            for listener in list(self._listeners.get(key, ())):
                listener(document)

    async def _run(self) -> None:
        pipeline = [{"$match": {"operationType": "insert"}}]
        while True:
            try:
                async with await self.mongo["notifications"].watch(
                    pipeline, resume_after=self._resume_token
                ) as stream:
                    self.ready.set()
                    while True:
                        change = await stream.try_next()
                        if change is None:
                            self._resume_token = stream.resume_token or self._resume_token
                            continue
                        self._resume_token = change["_id"]
                        self._dispatch(change["fullDocument"])
            except asyncio.CancelledError:
                raise
            except PyMongoError:
                self.restarts += 1
                log.warning("notification stream failed; resuming", exc_info=True)
                await asyncio.sleep(self.retry_seconds)
