"""A one-way channel from the generation thread to one request's asyncio task.

The worker may emit a few hundred events a second per stream; waking the event loop once per event would cost a
self-pipe write each. Here a wake-up is scheduled only when none is pending, and the reader takes everything that
accumulated in one go.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any


class Channel:
    """Thread-safe `put` (any thread), `drain` (the owning event loop only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: the server is gone, nobody will read this
            pass

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def drain(self, timeout: float) -> list[Any]:
        """Everything put so far (waits up to `timeout` seconds for at least one item; asyncio.TimeoutError past it)."""
        deadline = self._loop.time() + timeout
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    return items
            # Created on the loop thread, so `_wake` (also on the loop thread) cannot run between check and await.
            self._waiter = self._loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, max(deadline - self._loop.time(), 0.0))
            finally:
                self._waiter = None
