"""The request path's caches of documents, bounded by the size of what they hold, not by a count.

A parsed document keeps every node and token of its text alive: one at the token limit is about
7,000 objects, and the 512-entry caches this replaced held 3.8 million of them once a client had
sent 512 such documents, each differing only in whitespace. The garbage collector walks all of
them at each full collection (2.7 s, with the event loop stopped). Weighing each entry by its
text's length keeps what the caches hold, and so what a full collection walks, bounded whatever
clients send.

The event loop reads them and the documents thread (safety.on_documents_thread) fills them: each
operation holds the cache's lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class SizedCache(Generic[K, V]):
    """The most recently used entries whose sizes add up to at most `max_size`."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: D) -> V | D:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return default
            self.hits += 1
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value`, dropping the least recently used entries to make room (an entry bigger
        than the whole cache is not kept)."""
        if size > self.max_size:
            return
        with self._lock:
            self._discard(key)
            self._entries[key] = (value, size)
            self.size += size
            while self.size > self.max_size:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size -= dropped

    def discard(self, key: K) -> None:
        with self._lock:
            self._discard(key)

    def _discard(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= entry[1]
