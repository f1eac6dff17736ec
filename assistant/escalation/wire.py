"""What the cloud sees and says about tools, in OpenAI's chat-completions wire shape: a conversation's messages
(assistant `tool_calls`, `tool` results with `tool_call_id`), a request's `tools`/`tool_choice`, and the streamed
`delta.tool_calls` fragments put back together into whole `ToolCall`s.

Shapes: https://platform.openai.com/docs/api-reference/chat/create (request) and the chunk object's
`choices[].delta.tool_calls[]` (`index`, then `id`, `function.name` and `function.arguments` in fragments).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.events import ChatMessage, ToolCall
from ..errors import CloudError
from ..tools import ToolSpec
from ..tools.parse import new_call_id


def wire_messages(messages: Sequence[ChatMessage]) -> list[dict]:
    """Messages as an OpenAI request carries them (an assistant turn of calls only has `content: null`)."""
    out: list[dict] = []
    for m in messages:
        item: dict = {"role": m.role, "content": m.content}
        if m.tool_calls:
            item["content"] = m.content or None
            item["tool_calls"] = [{"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        if m.tool_call_id is not None:
            item["tool_call_id"] = m.tool_call_id
        out.append(item)
    return out


def wire_tools(spec: ToolSpec) -> dict:
    """The request fields for `spec`: `tools`, `tool_choice`, `parallel_tool_calls`."""
    body: dict = {"tools": [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in spec.tools]}
    body["tool_choice"] = ({"type": "function", "function": {"name": spec.name}} if spec.choice == "named"
                           else spec.choice)
    if spec.tools:
        body["parallel_tool_calls"] = spec.parallel
    return body


@dataclass(frozen=True)
class CallDelta:
    """One fragment of a streamed tool call."""

    index: int
    """Which call of the answer it belongs to."""
    id: str | None = None
    """The call's id (on its first fragment)."""
    name: str | None = None
    """The function's name (on its first fragment)."""
    arguments: str = ""
    """A piece of the arguments' JSON text."""


def parse_call_deltas(raw: object) -> tuple[CallDelta, ...]:
    """`delta.tool_calls` of one chunk. Raises TypeError/ValueError/KeyError on anything not of that shape."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError("tool_calls is not a list")
    out = []
    for item in raw:
        fn = item.get("function") or {}
        index, call_id, name, args = item["index"], item.get("id"), fn.get("name"), fn.get("arguments") or ""
        if not isinstance(index, int) or not all(isinstance(v, (str, type(None))) for v in (call_id, name)):
            raise TypeError("a tool call fragment has fields of the wrong type")
        if not isinstance(args, str):
            raise TypeError("tool call arguments are not text")
        out.append(CallDelta(index, call_id, name, args))
    return tuple(out)


class CallAssembler:
    """Builds whole calls from fragments; a call is complete when a later call starts or the answer ends.

    Each call must name a tool of `spec` that the request offered and carry a JSON object of arguments; anything
    else is the cloud breaking the request's contract: CloudError (cause `malformed`)."""

    def __init__(self, spec: ToolSpec | None) -> None:
        self.spec = spec
        self._parts: dict[int, list] = {}  # index -> [id, name, [argument pieces]]
        self._done = 0  # calls emitted (they are emitted in index order)

    def feed(self, deltas: Sequence[CallDelta]) -> list[ToolCall]:
        """Calls completed by these fragments (those before the highest index seen)."""
        for d in deltas:
            if d.index < self._done:
                raise CloudError("the cloud sent a fragment of a call it had finished", cause="malformed")
            part = self._parts.setdefault(d.index, [None, None, []])
            part[0] = part[0] or d.id
            part[1] = part[1] or d.name
            part[2].append(d.arguments)
        if not self._parts:
            return []
        return self._emit(below=max(self._parts))

    def finish(self) -> list[ToolCall]:
        """The calls still open when the answer ended."""
        return self._emit(below=max(self._parts, default=-1) + 1)

    def _emit(self, below: int) -> list[ToolCall]:
        out = []
        for index in sorted(i for i in self._parts if i < below):
            call_id, name, pieces = self._parts.pop(index)
            out.append(self._call(index, call_id, name, "".join(pieces) or "{}"))
            self._done = index + 1
        return out

    def _call(self, index: int, call_id: str | None, name: str | None, arguments: str) -> ToolCall:
        offered = {t.name for t in self.spec.offered} if self.spec is not None else set()
        if name not in offered:
            raise CloudError(f"the cloud called a tool the request did not offer ({name!r})", cause="malformed")
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise CloudError(f"the cloud's call of {name} has arguments that are not a JSON object",
                             cause="malformed")
        return ToolCall(id=call_id or new_call_id(), name=name, arguments=arguments, index=index)
