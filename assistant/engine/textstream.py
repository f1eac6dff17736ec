"""Turn generated token bytes into safe text deltas: whole UTF-8 characters only, stop strings held back."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


def _partial_stop_len(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


class TextStream:
    """Feed token bytes with `push`; it returns text that is final.

    Bytes are decoded incrementally (an incomplete UTF-8 sequence waits for the next token); text that could be the
    start of a stop string is held until it is known not to be one. When a stop string appears, `stopped` names it
    and everything from it on is discarded.
    """

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = tuple(stops)
        self._held = ""
        self.stopped: str | None = None

    def push(self, piece: bytes) -> str:
        if self.stopped is not None:
            return ""
        text = self._held + self._decoder.decode(piece)
        if not self._stops:
            self._held = ""
            return text
        cut, hit = _first_stop(text, self._stops)
        if hit is not None:
            self.stopped = hit
            self._held = ""
            return text[:cut]
        keep = _partial_stop_len(text, self._stops)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def flush(self) -> str:
        """Release what is held at the end of generation (a trailing partial character becomes U+FFFD)."""
        if self.stopped is not None:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text


def _first_stop(text: str, stops: Sequence[str]) -> tuple[int, str | None]:
    best, hit = len(text) + 1, None
    for stop in stops:
        i = text.find(stop)
        if i != -1 and i < best:
            best, hit = i, stop
    return best, hit
