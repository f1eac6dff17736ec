"""OpenAI response formatters, built from Hearth events: whole responses, stream chunks and logprobs.

Two formatters (chat and text completion) share one stream loop; each knows only how its JSON looks. Stream chunks are
serialised with `json.dumps` directly (no pydantic round trip) because they are on the per-token path.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.events import Finish, TokenEvent, ToolCall, ToolCallDelta, TopLogprob
from assistant.errors import HearthError

from .errors import stream_error

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def token_text(piece: bytes) -> str:
    """A token's string as OpenAI shows it; a piece that is part of a UTF-8 character is spelled as its bytes."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)


def _top(t: TopLogprob) -> dict[str, Any]:
    return {"token": token_text(t.piece), "logprob": t.logprob, "bytes": list(t.piece)}


def chat_logprobs(tokens: list[TokenEvent]) -> dict[str, Any]:
    """`choices[i].logprobs` of a chat completion: `{"content": [{token, logprob, bytes, top_logprobs}]}`."""
    content = [{"token": token_text(t.piece), "logprob": t.logprob, "bytes": list(t.piece),
                "top_logprobs": [_top(a) for a in t.top]} for t in tokens]
    return {"content": content, "refusal": None}


def completion_logprobs(tokens: list[TokenEvent], offset: int, with_top: bool) -> dict[str, Any]:
    """`choices[i].logprobs` of a text completion (the legacy parallel-lists shape)."""
    texts = [token_text(t.piece) for t in tokens]
    offsets = []
    for text in texts:
        offsets.append(offset)
        offset += len(text)
    top = [{token_text(a.piece): a.logprob for a in t.top} for t in tokens] if with_top else None
    return {"tokens": texts, "token_logprobs": [t.logprob for t in tokens], "top_logprobs": top,
            "text_offset": offsets}


def finish_reason(finish: Finish, called: bool = False) -> str:
    # `cancelled` only reaches a client whose deadline passed mid-stream, and that client gets an error event.
    if finish.reason == "length":
        return "length"
    return "tool_calls" if called else "stop"


def tool_call_out(call: ToolCall) -> dict[str, Any]:
    """One entry of `message.tool_calls`."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + _DUMPS(payload).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


@dataclass
class ChoiceResult:
    """One choice, accumulated from its events."""

    text: list[str] = field(default_factory=list)
    tokens: list[TokenEvent] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    finish: Finish | None = None


class ResponseFormatter:
    """How one endpoint's responses look, and how its stream is framed (server-sent events unless a subclass
    says otherwise: `media_type`, `tail`, `error`)."""

    media_type = "text/event-stream"
    object_whole = ""
    object_chunk = ""
    id_prefix = ""

    def __init__(self, model: str, n_per_prompt: int, include_usage: bool = False) -> None:
        self.id = self.id_prefix + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.model = model
        self.n_per_prompt = n_per_prompt
        self.include_usage = include_usage
        self.truncated_tokens = 0
        """Prompt tokens the context policy dropped (reported in `usage` when there were any)."""

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": self.object_chunk, "created": self.created,
                               "model": self.model, "system_fingerprint": None, "choices": choices}
        if self.include_usage:
            out["usage"] = None
        return out

    def usage(self, finishes: list[Finish]) -> dict[str, int]:
        # Choices of the same prompt share its prompt tokens: count them once per prompt.
        prompt = sum(f.usage.prompt_tokens for i, f in enumerate(finishes) if i % self.n_per_prompt == 0)
        completion = sum(f.usage.completion_tokens for f in finishes)
        out = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if self.truncated_tokens:
            out["truncated_tokens"] = self.truncated_tokens
        return out

    def usage_chunk(self, finishes: list[Finish]) -> bytes:
        out = self._chunk([])
        out["usage"] = self.usage(finishes)
        return sse(out)

    def tail(self, finishes: list[Finish]) -> bytes:
        """What ends a stream after every choice finished: the usage chunk when asked for, then `[DONE]`."""
        return (self.usage_chunk(finishes) if self.include_usage else b"") + DONE

    def error(self, exc: HearthError) -> bytes:
        """An error met after the stream's headers were sent, as one stream item."""
        return sse(stream_error(exc))

    def start(self, index: int) -> bytes | None:
        return None

    def delta(self, index: int, text: str, tokens: list[TokenEvent], offset: int) -> bytes:
        raise NotImplementedError

    def end(self, index: int, finish: Finish, tokens: list[TokenEvent], offset: int) -> bytes:
        raise NotImplementedError

    def tool_call(self, index: int, call: ToolCall, tokens: list[TokenEvent]) -> bytes | None:
        raise NotImplementedError

    def tool_call_delta(self, index: int, piece: ToolCallDelta, tokens: list[TokenEvent]) -> bytes | None:
        """A piece of a call still being written (None: this API shows whole calls only)."""
        return None

    def whole(self, results: list[ChoiceResult], echoes: list[str] | None) -> dict[str, Any]:
        raise NotImplementedError


class ChatFormatter(ResponseFormatter):
    object_whole = "chat.completion"
    object_chunk = "chat.completion.chunk"
    id_prefix = "chatcmpl-"

    def __init__(self, model: str, n_per_prompt: int, include_usage: bool = False,
                 logprobs: bool = False, may_call: bool = False) -> None:
        super().__init__(model, n_per_prompt, include_usage)
        self.logprobs = logprobs
        # OpenAI opens a stream with `content: ""`, but with `null` when the answer may be tool calls: the SDK's
        # accumulated message then has `content: None` for a pure call, as a whole answer has.
        self.opening: str | None = None if may_call else ""
        self.called: set[int] = set()
        """Choices that made tool calls (their finish reason is `tool_calls`)."""
        self.streamed: set[str] = set()
        """Ids of the calls streamed in pieces (their whole `ToolCall` adds nothing)."""

    def start(self, index: int) -> bytes:
        return sse(self._chunk([{"index": index, "delta": {"role": "assistant", "content": self.opening},
                                 "logprobs": None, "finish_reason": None}]))

    def delta(self, index: int, text: str, tokens: list[TokenEvent], offset: int) -> bytes:
        lp = chat_logprobs(tokens) if self.logprobs else None
        return sse(self._chunk([{"index": index, "delta": {"content": text}, "logprobs": lp,
                                 "finish_reason": None}]))

    def end(self, index: int, finish: Finish, tokens: list[TokenEvent], offset: int) -> bytes:
        lp = chat_logprobs(tokens) if self.logprobs and tokens else None
        return sse(self._chunk([{"index": index, "delta": {}, "logprobs": lp,
                                 "finish_reason": finish_reason(finish, index in self.called)}]))

    def tool_call(self, index: int, call: ToolCall, tokens: list[TokenEvent]) -> bytes | None:
        """A whole call that was not streamed in pieces (a cloud's), as OpenAI streams one: its id and name
        (arguments ""), then its arguments as one fragment. None for a call whose pieces were streamed."""
        self.called.add(index)
        if call.id in self.streamed:
            return None
        head = ToolCallDelta(call.id, call.name, "", call.index)
        return b"".join([self._piece(index, head, tokens), self._piece(index, dataclasses.replace(
            head, arguments=call.arguments), [])])

    def tool_call_delta(self, index: int, piece: ToolCallDelta, tokens: list[TokenEvent]) -> bytes:
        """A piece of a call as it is written: the first (id, name, arguments "") opens it in the client's
        reassembly, the rest append to its arguments."""
        self.called.add(index)
        self.streamed.add(piece.id)
        return self._piece(index, piece, tokens)

    def _piece(self, index: int, piece: ToolCallDelta, tokens: list[TokenEvent]) -> bytes:
        lp = chat_logprobs(tokens) if self.logprobs and tokens else None
        if piece.arguments:
            entry: dict[str, Any] = {"index": piece.index, "function": {"arguments": piece.arguments}}
        else:
            entry = {"index": piece.index, "id": piece.id, "type": "function",
                     "function": {"name": piece.name, "arguments": ""}}
        return sse(self._chunk([{"index": index, "delta": {"tool_calls": [entry]}, "logprobs": lp,
                                 "finish_reason": None}]))

    @staticmethod
    def _message(r: ChoiceResult) -> dict[str, Any]:
        text = "".join(r.text)
        out: dict[str, Any] = {"role": "assistant", "content": text if text or not r.calls else None,
                               "refusal": None}
        if r.calls:
            out["tool_calls"] = [tool_call_out(c) for c in r.calls]
        return out

    def whole(self, results: list[ChoiceResult], echoes: list[str] | None) -> dict[str, Any]:
        choices = [{"index": i, "message": self._message(r),
                    "logprobs": chat_logprobs(r.tokens) if self.logprobs else None,
                    "finish_reason": finish_reason(r.finish, bool(r.calls))} for i, r in enumerate(results)
                   if r.finish]
        return {"id": self.id, "object": self.object_whole, "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": choices,
                "usage": self.usage([r.finish for r in results if r.finish])}


class CompletionFormatter(ResponseFormatter):
    object_whole = "text_completion"
    object_chunk = "text_completion"
    id_prefix = "cmpl-"

    def __init__(self, model: str, n_per_prompt: int, include_usage: bool = False,
                 logprobs: int | None = None) -> None:
        super().__init__(model, n_per_prompt, include_usage)
        self.logprobs = logprobs

    def _lp(self, tokens: list[TokenEvent], offset: int) -> dict[str, Any] | None:
        if self.logprobs is None:
            return None
        return completion_logprobs(tokens, offset, self.logprobs > 0)

    def delta(self, index: int, text: str, tokens: list[TokenEvent], offset: int) -> bytes:
        return sse(self._chunk([{"index": index, "text": text, "logprobs": self._lp(tokens, offset),
                                 "finish_reason": None}]))

    def end(self, index: int, finish: Finish, tokens: list[TokenEvent], offset: int) -> bytes:
        lp = self._lp(tokens, offset) if tokens else None
        return sse(self._chunk([{"index": index, "text": "", "logprobs": lp,
                                 "finish_reason": finish_reason(finish)}]))

    def whole(self, results: list[ChoiceResult], echoes: list[str] | None) -> dict[str, Any]:
        choices = []
        for i, r in enumerate(results):
            if r.finish is None:
                continue
            head = echoes[i] if echoes else ""
            choices.append({"index": i, "text": head + "".join(r.text),
                            "logprobs": self._lp(r.tokens, len(head)), "finish_reason": finish_reason(r.finish)})
        return {"id": self.id, "object": self.object_whole, "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": choices,
                "usage": self.usage([r.finish for r in results if r.finish])}
