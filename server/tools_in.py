"""OpenAI's tool fields -> the core's `ToolSpec`, and conversation messages (tool turns included) -> `ChatMessage`s.

A malformed tool turn is a 400 naming the message and the field (never a 500)."""

from __future__ import annotations

import json

from assistant.engine.events import ChatMessage, ToolCall
from assistant.errors import InvalidRequestError
from assistant.tools import Tool, ToolSpec

from .schemas import SUPPORTED_ROLES, ChatCompletionRequest, ChatMessageIn, ToolIn


def tool_spec(body: ChatCompletionRequest, messages: list[ChatMessage]) -> ToolSpec | None:
    """The request's tools (None when it has none and no tool turns in its history). Raises InvalidRequestError."""
    if body.tools is None and body.tool_choice not in (None, "none"):
        raise InvalidRequestError("tool_choice needs 'tools'", param="tool_choice")
    choice, name = body.tool_choice or ("auto" if body.tools else "none"), None
    if not isinstance(choice, str):
        choice, name = "named", choice.function.name
    return offered(body.tools, messages, choice, name, parallel=body.parallel_tool_calls is not False)


def offered(tools: list[ToolIn] | None, messages: list[ChatMessage], choice: str = "auto", name: str | None = None,
            parallel: bool = True) -> ToolSpec | None:
    """The `ToolSpec` for OpenAI-shaped `tools` (also what Ollama takes); without tools, a spec that offers none
    when the history has tool turns (they are still rewritten for the template), else None."""
    if tools is None:
        has_history = any(m.tool_calls or m.role == "tool" for m in messages)
        return ToolSpec(tools=(), choice="none") if has_history else None
    return ToolSpec(tools=tuple(Tool(name=t.function.name, description=t.function.description or "",
                                     parameters=t.function.parameters or {}) for t in tools),
                    choice=choice, name=name, parallel=parallel)


def _text(i: int, msg: ChatMessageIn) -> str:
    content = msg.content
    if content is None:
        if msg.role == "assistant" and msg.tool_calls:
            return ""
        raise InvalidRequestError(f"messages[{i}].content must not be null (only an assistant message with "
                                  f"tool_calls may omit it)", param=f"messages[{i}].content")
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise InvalidRequestError(f"messages[{i}].content[{j}]: only text content parts are supported",
                                      param=f"messages[{i}].content[{j}].type")
        texts.append(part.text)
    return "".join(texts)


def _calls(i: int, msg: ChatMessageIn) -> tuple[ToolCall, ...]:
    calls = []
    for j, call in enumerate(msg.tool_calls or ()):
        where = f"messages[{i}].tool_calls[{j}].function.arguments"
        try:
            arguments = json.loads(call.function.arguments)
        except ValueError:
            raise InvalidRequestError(f"{where} is not valid JSON", param=where) from None
        if not isinstance(arguments, dict):
            raise InvalidRequestError(f"{where} must be a JSON object", param=where)
        calls.append(ToolCall(id=call.id, name=call.function.name, index=j,
                              arguments=json.dumps(arguments, ensure_ascii=False)))
    return tuple(calls)


def check_tool_turns(messages: list[ChatMessage]) -> None:
    """OpenAI's rule for tool turns: a `tool` message answers a call of the assistant message just before it (or
    of the one before the tool messages that already answered it), by that call's id. Raises InvalidRequestError
    naming the message (a result no call asked for would reach the model as an orphan turn)."""
    open_calls: set[str] | None = None  # ids of the latest assistant message's calls, while tool turns follow it
    for i, msg in enumerate(messages):
        if msg.role == "tool":
            where = f"messages[{i}].tool_call_id"
            if open_calls is None:
                raise InvalidRequestError(f"messages[{i}]: a tool message must follow an assistant message with "
                                          f"tool_calls", param=f"messages[{i}].role")
            if msg.tool_call_id not in open_calls:
                raise InvalidRequestError(f"{where} '{msg.tool_call_id}' matches no call of the assistant message "
                                          f"before it", param=where)
        else:
            open_calls = {c.id for c in msg.tool_calls} if msg.tool_calls else None


def chat_message(i: int, msg: ChatMessageIn) -> ChatMessage:
    """`messages[i]` as the core's message. Raises InvalidRequestError naming the field."""
    if msg.role not in SUPPORTED_ROLES:
        raise InvalidRequestError(f"messages[{i}]: role '{msg.role}' is not supported", param=f"messages[{i}].role")
    if msg.tool_calls and msg.role != "assistant":
        raise InvalidRequestError(f"messages[{i}].tool_calls: only assistant messages carry tool calls",
                                  param=f"messages[{i}].tool_calls")
    if (msg.role == "tool") != (msg.tool_call_id is not None):
        where = f"messages[{i}].tool_call_id"
        raise InvalidRequestError(f"{where} is required on a tool message" if msg.role == "tool" else
                                  f"{where}: only tool messages carry a tool_call_id", param=where)
    role = "system" if msg.role == "developer" else msg.role
    return ChatMessage(role=role, content=_text(i, msg), tool_calls=_calls(i, msg), tool_call_id=msg.tool_call_id)
