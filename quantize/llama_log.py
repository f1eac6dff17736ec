"""llama.cpp's log, captured while Hearth drives the library directly: lines are kept (the last error explains
a
failure) and forwarded to an optional observer (the quantizer's progress), never printed to the user's
terminal."""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections import deque
from collections.abc import Callable, Iterator

import llama_cpp

_LOCK = threading.Lock()


class LogCapture:
    """The lines llama.cpp logged inside a `capture_log()` block."""

    def __init__(self, on_line: Callable[[str], None] | None) -> None:
        self.lines: deque[str] = deque(maxlen=200)
        self.on_line = on_line
        self._partial = ""

    def feed(self, level: int, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.lines.append(line)
            if self.on_line:
                self.on_line(line)

    def last_errors(self, n: int = 3) -> str:
        picked = [ln.strip() for ln in self.lines if "error" in ln.lower() or "failed" in ln.lower()]
        return "; ".join(picked[-n:]) or (self.lines[-1].strip() if self.lines else "")


@contextlib.contextmanager
def capture_log(on_line: Callable[[str], None] | None = None) -> Iterator[LogCapture]:
    capture = LogCapture(on_line)

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        try:
            capture.feed(level, text.decode("utf-8", errors="replace"))
        except Exception:  # noqa: BLE001, S110 - an exception must never cross back into C
            pass

    with _LOCK:
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        try:
            yield capture
        finally:
            from llama_cpp import _logger

            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
