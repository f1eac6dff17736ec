"""A second llama.cpp context on the loaded model's weights, made at first use and freed once.

The embeddings (`assistant.embeddings`) and the answer probe (`assistant.escalation.probe`) each read hidden
states through a context of their own beside the engine's. Both make it lazily (most processes never need it),
use it only on the scheduler's loop thread, and must never use it after `close`, which may come from another
thread while a piece of work is in progress (it waits for that piece).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class SideContext(Generic[C]):
    """Holds one lazily made context (`make()` builds it; its `close()` frees it). Thread-safe."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._context: C | None = None
        self._lock = threading.Lock()  # held while the context is made, used or freed
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every later `use` raises EngineError)."""
        return self._closed

    @contextmanager
    def use(self) -> Iterator[C]:
        """The context, made now if this is its first use, held for the `with` block. Raises EngineError after
        `close` (the model is shutting down); whatever `make` raises on the first use."""
        from ..errors import EngineError

        with self._lock:
            if self._closed:
                raise EngineError("the model is shutting down")
            if self._context is None:
                self._context = self._make()
            yield self._context

    def close(self) -> None:
        """Free the context (waits for a `use` in progress); later uses raise EngineError. Idempotent."""
        with self._lock:
            self._closed = True
            if self._context is not None:
                context, self._context = self._context, None
                context.close()
