"""Ollama's response formatters: NDJSON lines for `/api/chat` and `/api/generate`, built from Hearth events.

They plug into the same stream loop as the OpenAI formatters (`server.service`): a text line per delta
(`{"model", "created_at", "message": {"role", "content"}, "done": false}`, or `"response"` for generate), a final
line with `done: true`, `done_reason` and the statistics, no `[DONE]` marker, and errors as `{"error": message}`.
Durations are nanoseconds, as Ollama's: `prompt_eval_duration` is the prompt's prefill, `eval_duration` the time
after the first generated token, `load_duration` 0 (the model was loaded when the server started).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from assistant.engine.events import Finish, TokenEvent, ToolCall
from assistant.errors import HearthError

from ..formatters import ChoiceResult, ResponseFormatter, finish_reason

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_NS = 1_000_000_000


def now_iso() -> str:
    """Ollama's `created_at`: RFC 3339 in UTC."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def tool_call_out(call: ToolCall) -> dict[str, Any]:
    """One entry of Ollama's `message.tool_calls`: the arguments as an object, not a string."""
    return {"function": {"index": call.index, "name": call.name, "arguments": json.loads(call.arguments)}}


def ndjson(payload: dict[str, Any]) -> bytes:
    return _DUMPS(payload).encode() + b"\n"


class OllamaFormatter(ResponseFormatter):
    """`/api/chat` (`field="message"`) or `/api/generate` (`field="response"`); always one choice."""

    media_type = "application/x-ndjson"

    def __init__(self, model: str, field: str) -> None:
        super().__init__(model, 1)
        self.field = field
        self.began = time.monotonic()

    def _line(self, text: str, done: bool, calls: list[ToolCall] | None = None) -> dict[str, Any]:
        body: Any = {"role": "assistant", "content": text} if self.field == "message" else text
        if calls:
            body["tool_calls"] = [tool_call_out(c) for c in calls]
        return {"model": self.model, "created_at": now_iso(), self.field: body, "done": done}

    def _final(self, text: str, finish: Finish) -> dict[str, Any]:
        usage, timings = finish.usage, finish.timings
        out = self._line(text, True)
        out.update(done_reason=finish_reason(finish), total_duration=int((time.monotonic() - self.began) * _NS),
                   load_duration=0, prompt_eval_count=usage.prompt_tokens,
                   prompt_eval_duration=int(timings.prefill_s * _NS), eval_count=usage.completion_tokens,
                   eval_duration=int(timings.decode_s * _NS))
        return out

    def delta(self, index: int, text: str, tokens: list[TokenEvent], offset: int) -> bytes:
        return ndjson(self._line(text, False))

    def end(self, index: int, finish: Finish, tokens: list[TokenEvent], offset: int) -> bytes:
        return ndjson(self._final("", finish))

    def tool_call(self, index: int, call: ToolCall, tokens: list[TokenEvent]) -> bytes:
        """A line whose message holds the call, as Ollama streams one (whole, once its arguments are complete)."""
        return ndjson(self._line("", False, [call]))

    def tail(self, finishes: list[Finish]) -> bytes:
        return b""

    def error(self, exc: HearthError) -> bytes:
        return ndjson({"error": exc.message})

    def whole(self, results: list[ChoiceResult], echoes: list[str] | None) -> dict[str, Any]:
        result = results[0]
        if result.finish is None:  # only a failed job ends without a Finish, and that one raised
            raise HearthError("the answer ended without finishing")
        out = self._final("".join(result.text), result.finish)
        if result.calls and self.field == "message":
            out["message"]["tool_calls"] = [tool_call_out(c) for c in result.calls]
        return out

    def loaded(self) -> dict[str, Any]:
        """Ollama's answer to an empty request, which only loads the model (here it is always loaded)."""
        out = self._line("", True)
        out["done_reason"] = "load"
        return out
