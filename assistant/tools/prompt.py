"""The generic tool format, for models whose chat template knows no tools (the default SmolLM2): the tools are
described in the system turn, a call is one JSON object per line, `{"name": ..., "arguments": {...}}`, and the
conversation's tool turns are rewritten into plain turns any template renders.

- An assistant turn with calls becomes its text (if any) followed by its calls, one JSON object per line: the model
  sees its earlier calls exactly as it is asked to write them.
- `tool` turns become one `user` turn ("Result of NAME (call ID): CONTENT"; consecutive results are joined), so
  templates that insist on alternating user/assistant turns (Gemma, Mistral) accept them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from ..engine.events import ChatMessage, ToolCall
from .formats import CallFormat
from .spec import ToolSpec

_HOW = {
    "auto": "To call a tool, reply with only a JSON object {\"name\": <tool name>, \"arguments\": <arguments>}; "
            "otherwise reply in plain text.",
    "required": "Reply with only a JSON object {\"name\": <tool name>, \"arguments\": <arguments>} that calls "
                "one of the tools.",
    "named": "Reply with only a JSON object {\"name\": \"%s\", \"arguments\": <arguments>} that calls %s.",
}
_PARALLEL = " To call several tools at once, write one such object per line."


def tools_block(spec: ToolSpec) -> str:
    """The system-turn text that describes the offered tools and how to call them ("" when none are offered)."""
    if not spec.offered:
        return ""
    lines = ["You can call these tools (each with its JSON Schema of arguments):"]
    lines += [json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters},
                         ensure_ascii=False) for t in spec.offered]
    how = _HOW[spec.choice] % (spec.name, spec.name) if spec.choice == "named" else _HOW[spec.choice]
    lines.append(how + (_PARALLEL if spec.parallel else ""))
    return "\n".join(lines)


def call_line(call: ToolCall) -> str:
    """One call as the generic format writes it."""
    return json.dumps({"name": call.name, "arguments": json.loads(call.arguments)}, ensure_ascii=False)


def generic_messages(messages: Sequence[ChatMessage], spec: ToolSpec) -> list[ChatMessage]:
    """`messages` with the tools described in the system turn (one is added first if there is none) and every tool
    turn rewritten as plain text."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[ChatMessage] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            text = "\n".join(([m.content] if m.content else []) + [call_line(c) for c in m.tool_calls])
            out.append(ChatMessage("assistant", text))
        elif m.role == "tool":
            result = f"Result of {names.get(m.tool_call_id or '', 'the tool')} (call {m.tool_call_id}): {m.content}"
            if out and out[-1].role == "user" and out[-1].content.startswith("Result of "):
                out[-1] = ChatMessage("user", out[-1].content + "\n" + result)
            else:
                out.append(ChatMessage("user", result))
        else:
            out.append(ChatMessage(m.role, m.content))
    block = tools_block(spec)
    if block:
        if out and out[0].role == "system":
            out[0] = ChatMessage("system", (out[0].content + "\n\n" if out[0].content else "") + block)
        else:
            out.insert(0, ChatMessage("system", block))
    return out


def local_view(messages: Sequence[ChatMessage], spec: ToolSpec,
               fmt: CallFormat) -> tuple[list[ChatMessage], tuple[dict, ...] | None]:
    """What the local model is shown for a request with tools, as (messages, tools for its template): with a
    native format the conversation as it is and the offered tools as OpenAI `tools` entries (the template
    describes them and renders the tool turns itself); with the generic one `generic_messages` and no tools.
    A format of one call per turn (Llama 3) gets a turn with several calls (a cloud's parallel calls) as one turn
    per call, each followed by its result: Llama 3.1's template refuses the turn as it is; Mistral's gets call ids
    of the length its template insists on (`short_ids`)."""
    if not fmt.native:
        return generic_messages(messages, spec), None
    tools = tuple({"type": "function", "function": {"name": t.name, "description": t.description,
                                                    "parameters": t.parameters}} for t in spec.offered)
    shown = list(messages) if fmt.parallel else single_call_turns(messages)
    return (shown if fmt.id_length is None else short_ids(shown, fmt.id_length)), tools or None


def short_ids(messages: Sequence[ChatMessage], length: int) -> list[ChatMessage]:
    """`messages` with every call id that is not `length` letters and digits replaced by one that is (the first
    `length` hex digits of its SHA-256, the same for a call and its result), for Mistral's templates."""
    def short(call_id: str) -> str:
        if len(call_id) == length and call_id.isascii() and call_id.isalnum():
            return call_id
        return hashlib.sha256(call_id.encode("utf-8")).hexdigest()[:length]

    out = []
    for m in messages:
        if m.tool_calls:
            m = dataclasses.replace(m, tool_calls=tuple(dataclasses.replace(c, id=short(c.id))
                                                        for c in m.tool_calls))
        if m.tool_call_id is not None:
            m = dataclasses.replace(m, tool_call_id=short(m.tool_call_id))
        out.append(m)
    return out


def single_call_turns(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with each assistant turn of several calls split into one turn per call (its text on the first),
    each followed by the `tool` results that answer that call (results that answer none stay after the last)."""
    out: list[ChatMessage] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        i += 1
        if m.role != "assistant" or len(m.tool_calls) < 2:
            out.append(m)
            continue
        j = i
        while j < len(messages) and messages[j].role == "tool":
            j += 1
        results, i = list(messages[i:j]), j
        for k, call in enumerate(m.tool_calls):
            out.append(dataclasses.replace(m, content=m.content if k == 0 else "", tool_calls=(call,)))
            out += [r for r in results if r.tool_call_id == call.id]
        ids = {c.id for c in m.tool_calls}
        out += [r for r in results if r.tool_call_id not in ids]
    return out
