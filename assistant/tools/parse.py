"""Tool calls out of an answer's text: the Assistant's event stream with the calls' text replaced by `ToolCall`
events (the core's one representation of a call; surfaces render it).

The grammar (`assistant.tools.grammar`) decides by the answer's first character: `{` starts calls (one JSON object
per line), anything else is text, passed on as it streams. A call is emitted as soon as its object is complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from ..engine.events import Event, Finish, TextDelta, ToolCall
from .spec import ToolSpec

_DECODER = json.JSONDecoder(strict=False)  # the grammar's strings may hold raw control characters


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class CallParser:
    """Turns one answer's text into text and calls."""

    def __init__(self, spec: ToolSpec) -> None:
        self.spec = spec
        self.mode: str | None = None if spec.offered else "text"
        self.pending = ""
        self.calls = 0

    def feed(self, text: str) -> list[Event]:
        """Events for the next piece of the answer's text."""
        if self.mode is None and text:
            self.mode = "calls" if text[:1] == "{" or self.spec.must_call else "text"
        if self.mode != "calls":
            return [TextDelta(text)] if text else []
        self.pending += text
        out: list[Event] = []
        while True:
            rest = self.pending.lstrip()
            if not rest.startswith("{"):
                return out
            try:
                obj, end = _DECODER.raw_decode(rest)
            except json.JSONDecodeError:
                return out  # not complete yet
            self.pending = rest[end:]
            out.append(self._call(obj, rest[:end]))

    def _call(self, obj: object, text: str) -> Event:
        if not (isinstance(obj, dict) and isinstance(obj.get("arguments"), dict)
                and self.spec.tool(str(obj.get("name"))) is not None):
            return TextDelta(text)  # only reachable without the grammar (e.g. a cloud answer)
        call = ToolCall(id=new_call_id(), name=obj["name"], arguments=json.dumps(obj["arguments"],
                        ensure_ascii=False), index=self.calls)
        self.calls += 1
        return call

    def flush(self) -> list[Event]:
        """What is left at the end: a call cut short (the answer hit its token limit) stays text."""
        rest, self.pending = self.pending.strip(), ""
        return [TextDelta(rest)] if rest else []


def with_calls(events: Iterator[Event], spec: ToolSpec) -> Iterator[Event]:
    """`events` with the answer's calls as `ToolCall` events (TokenEvents, the route decision and Finish pass
    through; Finish comes after the last call)."""
    parser = CallParser(spec)
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield from parser.feed(event.text)
            elif isinstance(event, Finish):
                yield from parser.flush()
                yield event
            else:
                yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
