"""One generation request from the HTTP side: submit it, read its route decision, then answer whole or stream.

The request's task only waits and formats; generation happens on the core scheduler's thread, read by one thread
per choice (`jobs`). The task sets the job's cancel event when its client goes away or its deadline passes, which
frees the choices' slots within one decode step.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from assistant.engine.events import Finish, RouteDecision, TextDelta, TokenEvent, ToolCall, ToolCallDelta
from assistant.errors import HearthError

from .channel import Channel
from .errors import RequestTimeoutError, as_hearth_error
from .formatters import ChoiceResult, ResponseFormatter, token_text
from .jobs import ChoiceEvent, JobDone, JobFailed, JobRunner
from .translate import JobSpec

log = logging.getLogger("hearth.server")
_POLL_S = 0.25  # longest wait for events before looking whether the client is still there
# Between two disconnect checks. Streams are also cancelled by Starlette the moment the client leaves; the check
# covers whole (non-streamed) answers and queued requests, and is not worth paying on every token.
_DISCONNECT_CHECK_S = 0.1
ROUTE_HEADER = "x-hearth-route"
REASONS_HEADER = "x-hearth-route-reasons"


def route_headers(decision: RouteDecision) -> dict[str, str]:
    """Where the answer came from (`local`, `cloud`, `local-degraded`) and why (comma-separated reason codes,
    only when there are any)."""
    headers = {ROUTE_HEADER: decision.route}
    if decision.reasons:
        headers[REASONS_HEADER] = ",".join(decision.reasons)
    return headers


class ClientGone(Exception):
    """The client disconnected; nothing more is sent."""


class Run:
    """A submitted job, read from the request's task."""

    def __init__(self, jobs: JobRunner, plan: JobSpec, request: Request) -> None:
        self.loop = asyncio.get_running_loop()
        self.plan = plan
        self.request = request
        self.deadline = self.loop.time() + jobs.request_timeout_s
        self.channel = Channel(self.loop)
        self._pending: deque[Any] = deque()
        self._checked = self.loop.time()
        self.job = jobs.submit(plan, self.channel)

    def cancel(self) -> None:
        self.plan.cancel.set()

    async def _fill(self) -> None:
        while not self._pending:
            remaining = self.deadline - self.loop.time()
            if remaining <= 0:
                self.cancel()
                raise RequestTimeoutError("the request did not finish within the server's request timeout")
            try:
                self._pending.extend(await self.channel.drain(min(remaining, _POLL_S)))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                pass
            now = self.loop.time()
            if now - self._checked >= _DISCONNECT_CHECK_S:
                self._checked = now
                if await self.request.is_disconnected():
                    self.cancel()
                    raise ClientGone()

    async def next(self) -> Any:
        """The next item of the job: a ChoiceEvent or JobDone (JobFailed is raised as its error)."""
        await self._fill()
        item = self._pending.popleft()
        if isinstance(item, JobFailed):
            raise item.error
        return item

    async def batch(self) -> list[Any]:
        """Every item available now (at least one); a JobFailed is raised as its error once reached."""
        await self._fill()
        items = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, JobFailed):
                if items:  # deliver what came before it first
                    self._pending.appendleft(item)
                    break
                raise item.error
            items.append(item)
            if isinstance(item, JobDone):
                break
        return items

    async def decision(self) -> RouteDecision:
        """The first choice's route decision (read before any response header is sent). Choices run
        concurrently, so other choices' events may come first: they stay queued, in order."""
        seen: list[Any] = []
        try:
            while True:
                item = await self.next()
                if isinstance(item, ChoiceEvent) and item.index == 0:
                    if isinstance(item.event, RouteDecision):
                        return item.event
                    raise HearthError("the assistant produced no route decision")
                if isinstance(item, JobDone):
                    raise HearthError("the assistant produced no route decision")
                seen.append(item)
        finally:
            self._pending.extendleft(reversed(seen))


async def whole(run: Run, shape: ResponseFormatter, decision: RouteDecision) -> JSONResponse:
    """Collect every choice and answer with one JSON body."""
    results = [ChoiceResult() for _ in run.plan.requests]
    while not isinstance(item := await run.next(), JobDone):
        event, result = item.event, results[item.index]
        if isinstance(event, TextDelta):
            result.text.append(event.text)
        elif isinstance(event, TokenEvent):
            result.tokens.append(event)
        elif isinstance(event, ToolCall):
            result.calls.append(event)
        elif isinstance(event, Finish):
            result.finish = event
    body = shape.whole(results, run.plan.echo_prompts)
    return JSONResponse(body, headers=route_headers(decision))


class _StreamState:
    """Per-choice bookkeeping of one stream: tokens waiting for their text, text offsets, finishes."""

    def __init__(self, shape: ResponseFormatter, n: int) -> None:
        self.shape = shape
        self.tokens: list[list[TokenEvent]] = [[] for _ in range(n)]
        self.offsets = [0] * n
        self.finishes: list[Finish] = []

    def chunk(self, i: int, event: Any) -> bytes | None:
        """The SSE bytes for one event of choice i (None if it produces none yet)."""
        shape, tokens = self.shape, self.tokens
        if isinstance(event, TextDelta):
            out = shape.delta(i, event.text, tokens[i], self.offsets[i])
            self.offsets[i] += sum(len(token_text(t.piece)) for t in tokens[i])
            tokens[i] = []
            return out
        if isinstance(event, TokenEvent):
            tokens[i].append(event)
            return None
        if isinstance(event, (ToolCall, ToolCallDelta)):
            out = shape.tool_call(i, event, tokens[i]) if isinstance(event, ToolCall) \
                else shape.tool_call_delta(i, event, tokens[i])
            if out is not None:
                tokens[i] = []
            return out
        if isinstance(event, Finish):
            self.finishes.append(event)
            out = shape.end(i, event, tokens[i], self.offsets[i])
            tokens[i] = []
            return out
        if isinstance(event, RouteDecision) and i > 0:
            return shape.start(i)
        return None


async def _events(run: Run, shape: ResponseFormatter) -> AsyncIterator[bytes]:
    # Events that arrived together go out in one write: one send per wake-up, not one per token.
    state = _StreamState(shape, len(run.plan.requests))
    start = shape.start(0)
    if start:
        yield start
    done = False
    while not done:
        parts = []
        for item in await run.batch():
            if isinstance(item, JobDone):
                done = True
                break
            if (chunk := state.chunk(item.index, item.event)) is not None:
                parts.append(chunk)
        if parts:
            yield b"".join(parts)
    if tail := shape.tail(state.finishes):
        yield tail


async def stream(run: Run, shape: ResponseFormatter, decision: RouteDecision, on_close: Any) -> StreamingResponse:
    """Answer with server-sent events; errors after the headers become an `error` event."""

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in _events(run, shape):
                yield chunk
        except ClientGone:
            return
        except Exception as exc:  # noqa: BLE001  # headers are sent: an error can only travel as an event
            yield shape.error(as_hearth_error(exc))
        finally:
            # Reached on normal end, on error and when Starlette cancels the task because the client left.
            run.cancel()
            on_close()

    headers = {**route_headers(decision), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type=shape.media_type, headers=headers)
