"""A client for any OpenAI-compatible chat endpoint (`POST {base_url}/chat/completions`), built for
escalation: bounded by a deadline, retried with backoff on 429/5xx/connection errors, guarded by a circuit
breaker, streaming passed through as it arrives. The API key goes into the Authorization header only; no
message ever contains it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from ..engine.events import ChatMessage
from ..engine.sampling import SamplingParams
from ..errors import CloudError
from ..settings import CloudSettings
from ..tools import ToolSpec
from .breaker import CircuitBreaker
from .wire import CallDelta, parse_call_deltas, wire_messages, wire_tools

_RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class CloudChunk:
    """A piece of a cloud answer."""

    text: str
    """Answer text (may be empty on the final chunk)."""
    finish_reason: str | None = None
    """Set on the chunk that ends the answer."""
    usage: dict | None = None
    """Token usage when the endpoint reports it."""
    calls: tuple[CallDelta, ...] = ()
    """Fragments of tool calls (requests with tools)."""


class CloudClient:
    """One endpoint; thread-safe (httpx.Client is), one breaker shared by all requests."""

    def __init__(self, settings: CloudSettings, breaker: CircuitBreaker | None = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.breaker = breaker or CircuitBreaker(settings.breaker_failures, settings.breaker_window_s,
                                                 settings.breaker_cooldown_s)
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._http = httpx.Client(base_url=(settings.base_url or "").rstrip("/") + "/", headers=headers,
                                  follow_redirects=False)

    @property
    def configured(self) -> bool:
        return bool(self.settings.base_url and self.settings.model)

    def close(self) -> None:
        self._http.close()

    def stream(self, messages: Sequence[ChatMessage], params: SamplingParams, deadline: float,
               cancel: threading.Event | None = None, tools: ToolSpec | None = None) -> Iterator[CloudChunk]:
        """Chunks of the answer. The first one is returned only once the cloud has produced text or a tool call
        (or finished), before `deadline` (a `time.monotonic()` value); until then failures are retried. `tools`:
        offered to the cloud as OpenAI `tools`/`tool_choice`. Raises CloudError."""
        self._admit()
        response, lines, first = self._open(self._body(messages, params, tools), deadline, cancel)
        self.breaker.record_success()
        return self._rest(response, lines, first, cancel)

    def complete(self, messages: Sequence[ChatMessage], params: SamplingParams, deadline: float,
                 cancel: threading.Event | None = None) -> CloudChunk:
        """The whole answer as one chunk (streamed underneath, so the deadline bounds it all)."""
        parts, last = [], CloudChunk("")
        for chunk in self.stream(messages, params, deadline, cancel):
            parts.append(chunk.text)
            last = chunk
            if time.monotonic() > deadline:
                raise CloudError("the cloud did not finish before the deadline", cause="timeout")
        return CloudChunk("".join(parts), last.finish_reason, last.usage)

    # -- internals -------------------------------------------------------------------------------------------
    def _admit(self) -> None:
        if not self.configured:
            raise CloudError("no cloud endpoint is configured", cause="unconfigured")
        if not self.breaker.allow():
            raise CloudError("the cloud is failing; its circuit breaker is open", cause="breaker_open")

    def _open(self, body: dict, deadline: float,
              cancel: threading.Event | None) -> tuple[httpx.Response, Iterator[str], CloudChunk]:
        attempt = 0
        while True:
            try:
                return self._attempt(body, deadline, cancel)
            except _Retry as exc:
                wait = min(self.settings.backoff_s * 2 ** attempt, 8.0)
                if exc.retry_after is not None:
                    wait = max(wait, min(exc.retry_after, 8.0))
                attempt += 1
                if attempt > self.settings.retries or time.monotonic() + wait >= deadline:
                    self.breaker.record_failure()
                    raise CloudError(f"the cloud failed: {exc.reason}", cause=exc.cause) from None
                self._sleep(wait)
            except CloudError:
                self.breaker.record_failure()
                raise
            except BaseException:  # cancelled or interrupted: not the cloud's fault
                self.breaker.release()
                raise

    def _attempt(self, body: dict, deadline: float,
                 cancel: threading.Event | None) -> tuple[httpx.Response, Iterator[str], CloudChunk]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CloudError("the cloud did not answer before the deadline", cause="timeout")
        s = self.settings
        connect, read = min(s.connect_timeout_s, remaining), min(s.read_timeout_s, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        try:
            request = self._http.build_request("POST", "chat/completions", json=body, timeout=timeout)
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException:
            raise _Retry("timed out connecting", "timeout") from None
        except httpx.TransportError as exc:
            raise _Retry(f"cannot connect ({type(exc).__name__})", "connect") from None
        if response.status_code != 200:
            response.close()
            reason, cause = f"HTTP {response.status_code}", f"http_{response.status_code}"
            if response.status_code in _RETRYABLE:
                raise _Retry(reason, cause, _retry_after(response))
            raise CloudError(f"the cloud refused the request ({reason})", cause=cause)
        try:
            lines = response.iter_lines()
            first = _first_chunk(_chunks(lines), deadline, cancel)
        except BaseException:
            response.close()
            raise
        return response, lines, first

    def _rest(self, response: httpx.Response, lines: Iterator[str], first: CloudChunk,
              cancel: threading.Event | None) -> Iterator[CloudChunk]:
        try:
            yield first
            if first.finish_reason is not None:
                return
            for chunk in _chunks(lines):
                if cancel is not None and cancel.is_set():
                    return
                yield chunk
                if chunk.finish_reason is not None:
                    return
        except CloudError:
            self.breaker.record_failure()
            raise
        finally:
            response.close()

    def _body(self, messages: Sequence[ChatMessage], params: SamplingParams, tools: ToolSpec | None) -> dict:
        body: dict = {"model": self.settings.model, "stream": True, "messages": wire_messages(messages),
                      "temperature": params.temperature, "top_p": params.top_p}
        if tools is not None:
            body.update(wire_tools(tools))
        if params.max_tokens:
            body["max_tokens"] = params.max_tokens
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        return body


class _Retry(Exception):
    def __init__(self, reason: str, cause: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.cause, self.retry_after = reason, cause, retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return None


def _first_chunk(chunks: Iterator[CloudChunk], deadline: float, cancel: threading.Event | None) -> CloudChunk:
    """The first chunk with text (or the final one), before the deadline."""
    try:
        for chunk in chunks:
            if chunk.text or chunk.calls or chunk.finish_reason is not None:
                return chunk
            if time.monotonic() > deadline:
                raise CloudError("the cloud did not start answering before the deadline", cause="timeout")
            if cancel is not None and cancel.is_set():
                raise CloudError("cancelled", cause="cancelled")
    except httpx.TimeoutException:
        raise _Retry("timed out waiting for the answer", "timeout") from None
    raise CloudError("the cloud ended its stream without an answer", cause="malformed")


def _chunks(lines: Iterator[str]) -> Iterator[CloudChunk]:
    """Parse server-sent events into chunks; anything that is not the OpenAI chunk format is an error."""
    try:
        for line in lines:
            if not line.startswith("data:"):
                continue  # blank separators, comments (": keep-alive") and other SSE fields
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            yield _parse(payload)
    except httpx.TimeoutException:
        raise CloudError("the cloud stalled mid-answer", cause="timeout") from None
    except httpx.HTTPError as exc:
        raise CloudError(f"the cloud connection broke ({type(exc).__name__})", cause="connect") from None
    raise CloudError("the cloud stream ended without [DONE]", cause="malformed")


def _parse(payload: str) -> CloudChunk:
    try:
        data = json.loads(payload)
        if "error" in data:
            raise CloudError("the cloud reported an error mid-stream", cause="stream_error")
        choice = data["choices"][0] if data.get("choices") else {}
        delta = choice.get("delta") or choice.get("message") or {}
        text = delta.get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not text")
        return CloudChunk(text, choice.get("finish_reason"), data.get("usage"),
                          parse_call_deltas(delta.get("tool_calls")))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise CloudError("the cloud sent a malformed stream chunk", cause="malformed") from None
