"""An execution context that reference counting alone frees when its request ends.

graphql-core 3.3's executor stores its own bound methods on itself (`async_helpers`, for resolvers
to gather and track asynchronous work): every operation's context is then a reference cycle, and
with it everything the context holds (variables, collected fields, caches) waits for Python's
cyclic collector. A query's context dies young and is found by a cheap young collection; a live
subscription's context lives as long as its socket, grows old, and once the subscription ends
lies in the eldest generation until a full collection walks the whole heap for it. A process
holding 10,000 subscriptions (2.3 million tracked objects) paid 1 to 2.4 s per full collection,
every event in flight waiting behind it (bench/subscriptions.py). Built on access instead, the
helpers bind the context only while a resolver holds them, and the context goes when its last
user does (`tests/api/test_subscription_garbage.py`).
"""

from __future__ import annotations

from graphql import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class AcyclicExecutionContext(StrawberryGraphQLCoreExecutionContext):
    @property
    def async_helpers(self) -> GraphQLResolveInfoHelpers:
        return GraphQLResolveInfoHelpers(gather=self.gather_async_work, track=self.track_async_work)

    @async_helpers.setter
    def async_helpers(self, _built_by_the_base_class: GraphQLResolveInfoHelpers) -> None:
        """The executor's __init__ assigns the cycle; it is built on access instead."""
