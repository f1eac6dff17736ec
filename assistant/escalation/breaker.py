"""A circuit breaker for the cloud: after `failures` failed requests within `window_s` it opens and the cloud
is not tried; after `cooldown_s` one probe request is let through (half-open) and its outcome closes or
re-opens it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Thread-safe; one per cloud endpoint, shared by every request of an Assistant."""

    def __init__(self, failures: int, window_s: float, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.window_s, self.cooldown_s = failures, window_s, cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state(self._clock())

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._probing or now - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Whether a request may go to the cloud now (half-open: only the first caller, the probe)."""
        with self._lock:
            state = self._state(self._clock())
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._recent.clear()
            self._opened_at, self._probing = None, False

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._opened_at is not None:  # a failed probe (or a straggler) re-opens for a full cooldown
                self._opened_at, self._probing = now, False
                return
            self._recent.append(now)
            while self._recent and now - self._recent[0] > self.window_s:
                self._recent.popleft()
            if len(self._recent) >= self.failures:
                self._opened_at = now
                self._recent.clear()

    def release(self) -> None:
        """A permitted request ended without reaching the cloud (cancelled): let another caller probe."""
        with self._lock:
            self._probing = False
