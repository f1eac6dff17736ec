"""Tool calls out of an answer's text: the Assistant's event stream with the calls' text replaced by `ToolCall`
events (the core's one representation of a call; surfaces render it).

The grammar (`assistant.tools.grammar`) decides by how the answer begins: `{` (or the format's whole opening tag,
`<tool_call>`) starts calls, one per line, anything else is text, passed on as it streams (text that begins with a
part of the tag, `<think>`, is held only until it differs from the tag). While a call is written its pieces stream as
`ToolCallDelta`s (its id and name once they are known, then each new fragment of its arguments' text); the whole
`ToolCall` follows as soon as its object is complete. The format's tags around calls are dropped.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

from ..engine.events import Event, Finish, TextDelta, ToolCall, ToolCallDelta
from .formats import GENERIC, CallFormat
from .spec import ToolSpec

_DECODER = json.JSONDecoder(strict=False)  # the grammar's strings may hold raw control characters


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class CallParser:
    """Turns one answer's text, written in `fmt`, into text and calls."""

    def __init__(self, spec: ToolSpec, fmt: CallFormat = GENERIC) -> None:
        self.spec, self.fmt = spec, fmt
        self.mode: str | None = None if spec.offered else "text"
        self.pending = ""
        self.calls = 0
        self._open: tuple[str, str] | None = None
        """The call being written: its id and name."""
        self._sent = 0
        """How much of its arguments' escaped text has been streamed."""
        # A call's start as the grammar writes it: its name first, then its arguments' key.
        self._head = re.compile(r'\{\s*"name"\s*:\s*"([A-Za-z0-9_-]{1,64})"\s*,\s*"' + re.escape(fmt.arguments_key)
                                + r'"\s*:\s*')
        punctuation = ("[", ",", "]") if fmt.array else ()
        # What is dropped around the calls' objects (`[TOOL_CALLS]` is tried before the array's `[`) ...
        self._tags = fmt.markers + punctuation
        # ... and what may follow a whole call (kept out of the text of a call cut short after it).
        self._closers = tuple(t for t in (fmt.call_close.strip(), *punctuation[1:]) if t)

    def feed(self, text: str) -> list[Event]:
        """Events for the next piece of the answer's text."""
        if self.mode is None:
            text = self._decide(text)
        if self.mode != "calls":
            return [TextDelta(text)] if text else []
        self.pending += text
        out: list[Event] = []
        while True:
            rest = self._untagged(self.pending.lstrip())
            if rest is None or not rest.startswith("{"):
                return out  # a tag not complete yet, or nothing more
            try:
                obj, end = _DECODER.raw_decode(rest)
            except json.JSONDecodeError:
                return out + self._grow(rest)  # not complete yet
            self.pending = rest[end:]
            out += self._call(obj, rest[:end])

    def _grow(self, rest: str) -> list[Event]:
        """The pieces of the call being written in `rest` not streamed yet (none before its name is complete, or
        when its keys come in another order than the grammar writes them)."""
        head = self._head.match(rest)
        if head is None or self.spec.tool(head.group(1)) is None:
            return []
        out: list[Event] = []
        if self._open is None:
            self._open, self._sent = (new_call_id(), head.group(1)), 0
            out.append(ToolCallDelta(*self._open, "", self.calls))
        # Trailing whitespace is held back: it may lie after the arguments' object, before the call's `}`.
        arguments = escaped(rest[head.end():].rstrip())
        if len(arguments) > self._sent:
            out.append(ToolCallDelta(*self._open, arguments[self._sent:], self.calls))
            self._sent = len(arguments)
        return out

    def _decide(self, text: str) -> str:
        """Sets the mode once the answer so far (`pending` + `text`) shows it; returns what is still to be fed."""
        seen, opening = self.pending + text, self.fmt.opening
        if self.spec.must_call or seen.startswith(opening):
            self.mode = "calls"
        elif seen and not opening.startswith(seen):
            self.mode = "text"
        else:
            self.pending = seen  # a part of the opening so far: wait
            return ""
        self.pending = ""
        return seen

    def _untagged(self, rest: str) -> str | None:
        """`rest` without the format's tags at its start; None while it ends inside one (`<tool_`)."""
        while True:
            tag = next((t for t in self._tags if rest.startswith(t)), None)
            if tag is None:
                return None if any(t.startswith(rest) for t in self._tags) and rest else rest
            rest = rest[len(tag):].lstrip()

    def _call(self, obj: object, text: str) -> list[Event]:
        key, opened, self._open = self.fmt.arguments_key, self._open, None
        if not (isinstance(obj, dict) and isinstance(obj.get(key), dict)
                and self.spec.tool(str(obj.get("name"))) is not None):
            return [TextDelta(text)]  # only reachable without the grammar
        head = self._head.match(text)
        if head is None:
            arguments = json.dumps(obj[key], ensure_ascii=False)
        else:  # the model's own text of the arguments, as its pieces streamed
            arguments = escaped(text[head.end():_DECODER.raw_decode(text, head.end())[1]])
        sent = self._sent if opened is not None else 0
        if opened is None:  # complete in one piece: its pieces are its head and its whole arguments
            opened = (new_call_id(), obj["name"])
            out: list[Event] = [ToolCallDelta(*opened, "", self.calls)]
        else:
            out = []
        if len(arguments) > sent:
            out.append(ToolCallDelta(*opened, arguments[sent:], self.calls))
        out.append(ToolCall(id=opened[0], name=obj["name"], arguments=arguments, index=self.calls))
        self.calls += 1
        return out

    def flush(self) -> list[Event]:
        """What is left at the end: a call cut short (the answer hit its token limit) stays text (without the
        closing tag of the call before it); a tag cut short is dropped; text that was only a part of the opening
        tag (`<tool`) is text."""
        rest, self.pending = self.pending.strip() if self.mode == "calls" else self.pending, ""
        if self.mode == "calls":
            while self.calls and (closer := next((t for t in self._closers if rest.startswith(t)), None)):
                rest = rest[len(closer):].lstrip()
            if rest and any(t.startswith(rest) for t in self._tags):
                return []
        return [TextDelta(rest)] if rest else []


def escaped(text: str) -> str:
    """JSON text with the raw control characters inside its strings escaped (`\\u000a`): the grammar's strings may
    hold them, strict JSON parsers (the clients') refuse them. The escaping of a prefix is a prefix of the
    escaping of the whole, so fragments escaped as they come join into the whole call's escaped text."""
    out, in_string, escape = [], False, False
    for ch in text:
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            elif ch < " ":
                ch = f"\\u{ord(ch):04x}"
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def with_calls(events: Iterator[Event], spec: ToolSpec, fmt: CallFormat = GENERIC) -> Iterator[Event]:
    """`events` with the answer's calls (written in `fmt`) as `ToolCall` events (TokenEvents, the route decision,
    Finish and a cloud's own `ToolCall`s pass through; Finish comes after the last call)."""
    parser = CallParser(spec, fmt)
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
