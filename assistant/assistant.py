"""The Assistant: every surface's one entry point. It budgets the context, routes the request between the
local engine and the cloud, and streams events.

Surfaces (CLI, server, voice) build a `ChatRequest` and consume `stream()` or call `complete()`; they never
talk to an engine directly. Routing (see `assistant.escalation`): an explicit request or a context overflow
goes to the cloud before generating; otherwise the local answer's first `decision_window` tokens are buffered
and scored (by the calibration's answer hidden-state probe where the engine gives hidden states, else by the
distribution signals' fit), and a low-confidence start switches to the cloud stream. Whatever the cloud does, the
user gets an answer: when it may not be used (privacy) or fails (offline, slow, erroring, breaker open) the local
answer is marked `local-degraded`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .budget import BudgetResult, check_fits, fit_context, reserve_for
from .embeddings import Embedder, Embeddings, Input
from .engine.events import ChatMessage, Event, Finish, RouteDecision, TextDelta, TokenEvent, ToolCall
from .engine.protocol import Engine, ModelInfo, Prompt
from .errors import CloudError, ContextOverflowError, EngineError, InvalidRequestError
from .escalation import policy as P
from .escalation.audit import AuditLog
from .escalation.cloud import CloudClient
from .escalation.defaults import Mode
from .escalation.router import Escalator, Trace
from .requests import ChatRequest, Reply, RouteHint
from .scheduler import Scheduler
from .settings import Privacy, Settings
from .tools import call_format, local_view, with_calls

__all__ = ["Assistant", "ChatRequest", "Reply", "RouteHint"]  # the request types live in `requests`

@dataclass
class _Preflight:
    """What the router knows before generating."""

    privacy: Privacy
    """The effective privacy mode (the settings', or the request's if stricter)."""
    blocked: str | None
    """Why the cloud may not be used (a reason code), or None."""
    triggers: list[str]
    """Reasons to go to the cloud before generating: `explicit`, `context_overflow`."""
    budget: BudgetResult | None
    """The untruncated conversation's budget (None for raw prompts)."""
    prompt_tokens: int
    """Prompt tokens as the local model counts them."""


class Assistant:
    """Routes requests between the local engine and (when configured) the cloud."""

    def __init__(self, model: Engine | Scheduler, settings: Settings, *, cloud: CloudClient | None = None,
                 audit: AuditLog | None = None) -> None:
        """`model`: the scheduler that owns the loaded model, or the engine (its scheduler is used, or made)."""
        self.scheduler = model if isinstance(model, Scheduler) else Scheduler.of(
            model, max_queue=settings.engine.max_queue)
        self.engine = self.scheduler.engine  # read-only uses: model info, tokenizing, templates
        self.settings = settings
        self.escalator = Escalator(settings, cloud=cloud, audit=audit, scheduler=self.scheduler)
        self.embedder = Embedder(self.scheduler, max_waiting=settings.engine.max_queue)

    @property
    def model_info(self) -> ModelInfo:
        return self.engine.info

    @property
    def _can_score(self) -> bool:
        """Confidence needs per-token log-probabilities: on a backend without them requests are served locally
        (overflow and explicit escalation still apply), rather than refused for logprobs nobody asked for."""
        return self.engine.capabilities.logprobs

    @property
    def n_ctx(self) -> int:
        return self.engine.info.n_ctx

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        return self.engine.count_tokens(messages)

    def budget(self, request: ChatRequest) -> BudgetResult | None:
        """Fit a chat request to the context window (None for raw prompts, which are never truncated)."""
        reserve = reserve_for(request.params.max_tokens, self.settings.engine.reserve_tokens)
        policy = request.context_policy or self.settings.engine.context_policy
        if request.messages is None:
            check_fits(self.engine.count_tokens(request.prompt or ""), reserve, self.n_ctx)
            return None
        return fit_context(_local(request), self._counter(request), self.n_ctx, reserve, policy)

    # -- routing ---------------------------------------------------------------------------------------------
    def stream(self, request: ChatRequest) -> Iterator[Event]:
        """Events for one request: one RouteDecision first, then TokenEvent/TextDelta events (and, for a request
        with tools, each call's ToolCallDelta pieces as it is written and its ToolCall once whole), ending with
        Finish. Only the first `decision_window` tokens are held back while the policy decides (the
        `complete_window` when `request.mode` is `complete`)."""
        yield from self._stream(request, request.mode or "stream")

    def _stream(self, request: ChatRequest, mode: Mode) -> Iterator[Event]:
        if request.tools is None:
            return self._routed(request, mode)
        spec = request.tools
        if spec.offered and request.params.grammar is not None:
            raise InvalidRequestError("a grammar cannot be combined with tools", param="grammar")
        assert request.messages is not None
        fmt = call_format(self.engine.info.tool_syntax)
        messages, tools = local_view(request.messages, spec, fmt)
        grammar = spec.grammar_for(fmt) or request.params.grammar
        prepared = dataclasses.replace(request, local_messages=messages, local_tools=tools,
                                       params=request.params.model_copy(update={"grammar": grammar}))
        return with_calls(self._routed(prepared, mode), spec, fmt)

    def _prompt(self, request: ChatRequest, budget: BudgetResult | None) -> Prompt:
        """What the engine is given for `request` (fitted to `budget` when there is one): the conversation, or
        its text rendered with the tools where the template is given them."""
        prompt = _prompt(request, budget)
        if request.local_tools and not isinstance(prompt, str):
            return self.engine.render_chat(prompt, request.local_tools)
        return prompt

    def _counter(self, request: ChatRequest) -> Callable[[Sequence[ChatMessage]], int]:
        """Counts a conversation's prompt tokens as `_prompt` will render it."""
        if not request.local_tools:
            return self.engine.count_tokens
        return lambda messages: self.engine.count_tokens(self.engine.render_chat(messages, request.local_tools))

    def _routed(self, request: ChatRequest, mode: Mode) -> Iterator[Event]:
        if request.mode != mode:
            request = dataclasses.replace(request, mode=mode)
        trace = Trace()
        events = self._route(request, trace, mode)
        try:
            for event in events:
                if isinstance(event, RouteDecision):
                    trace.route, trace.reasons, trace.signals = event.route, event.reasons, event.signals
                elif isinstance(event, Finish):
                    trace.finish, trace.completion_tokens = event.reason, event.usage.completion_tokens
                yield event
        except GeneratorExit:
            trace.finish = trace.finish or "closed"
            raise
        except BaseException:
            trace.finish = "error"
            raise
        finally:
            events.close()  # stops a paused local generation now, not whenever it is collected
            self.escalator.record(trace, request.messages if request.messages is not None else request.prompt)

    def _route(self, request: ChatRequest, trace: Trace, mode: Mode) -> Iterator[Event]:
        pre = self._preflight(request, trace)
        if pre.triggers:
            yield from self._escalate(request, pre, trace)
        elif self.escalator.active and request.messages is not None and self._can_score:
            yield from self._windowed(request, pre, trace, mode)
        else:
            # Submitted before the decision is announced, so a full queue is an error before any event.
            local = self.scheduler.generate(self._prompt(request, pre.budget), request.params, cancel=request.cancel)
            yield P.decision("local", extra=_truncated(pre.budget), budget=pre.budget)
            yield from local

    def _preflight(self, request: ChatRequest, trace: Trace) -> _Preflight:
        privacy = P.effective_privacy(self.settings.privacy, request.privacy)
        trace.privacy = privacy
        blocked = P.blocker(self.settings, privacy, request.route, request.messages is None)
        triggers = [P.EXPLICIT] if P.wants_cloud(request.route, request.model, self.settings) else []
        budget: BudgetResult | None = None
        if request.messages is not None and self.escalator.active:
            reserve = reserve_for(request.params.max_tokens, self.settings.engine.reserve_tokens)
            try:  # counted before generating: an overflow escalates instead of truncating
                budget = fit_context(_local(request), self._counter(request), self.n_ctx, reserve, "error")
            except ContextOverflowError as exc:
                triggers.append(P.CONTEXT_OVERFLOW)
                budget = BudgetResult(tuple(_local(request)), exc.prompt_tokens, reserve, self.n_ctx,
                                      overflow_tokens=exc.prompt_tokens + reserve - self.n_ctx)
        if budget is None and not triggers:
            budget = self.budget(request)
        tokens = (budget.prompt_tokens if budget is not None
                  else self.engine.count_tokens(self._prompt(request, None)))
        trace.prompt_tokens = tokens
        return _Preflight(privacy, blocked, triggers, budget, tokens)

    def _escalate(self, request: ChatRequest, pre: _Preflight, trace: Trace) -> Iterator[Event]:
        """Explicit or overflow: the cloud first; the local model (truncating if it must) when that fails."""
        blocked = pre.blocked
        if blocked is None:
            events = self._cloud(request, pre, trace)
            if events is not None:
                yield P.decision("cloud", pre.triggers, budget=pre.budget)
                yield from events
                return
            blocked = P.CLOUD_UNAVAILABLE
        budget = self.budget(request)  # applies the context policy: truncates, or raises under `error`
        local = self.scheduler.generate(self._prompt(request, budget), request.params, cancel=request.cancel)
        yield P.decision("local-degraded", pre.triggers, blocked, _truncated(budget), budget=budget)
        yield from local

    def _windowed(self, request: ChatRequest, pre: _Preflight, trace: Trace, mode: Mode) -> Iterator[Event]:
        """Buffer the first tokens (the mode's window), score them, then keep streaming locally or switch."""
        wanted = request.params.top_logprobs
        params = request.params.model_copy(update={"top_logprobs": max(wanted, 2)})  # the margin signal
        local = self.scheduler.generate(self._prompt(request, pre.budget), params, cancel=request.cancel)
        if request.tools is not None and request.tools.offered:
            mode = "tools"  # a call's tokens are mostly forced structure: they have their own fit
        try:
            try:
                head = _take_window(local, self.escalator.windows[mode])
            except EngineError:
                events = self._cloud(request, pre, trace) if pre.blocked is None else None
                if events is None:
                    raise
                yield P.decision("cloud", [P.LOCAL_FAILURE], budget=pre.budget)
                yield from events
                return
            yield from self._decide(request, pre, trace, mode, head, local)
        finally:
            _close(local)  # switching to the cloud (or a consumer that stopped) ends the local generation now

    def _decide(self, request: ChatRequest, pre: _Preflight, trace: Trace, mode: Mode, head: list[Event],
                local: Iterator[Event]) -> Iterator[Event]:
        started = time.perf_counter()
        # The answer probe reads hidden states over prompt + window (one pass on the scheduler's thread).
        prompt = (self.engine.prompt_tokens(self._prompt(request, pre.budget)) if self.escalator.wants_prompt(mode)
                  else None)
        signals = self.escalator.score([e for e in head if isinstance(e, TokenEvent)], mode, prompt)
        low = P.low_confidence(signals["score"], signals["threshold"])
        trace.decision_ms = (time.perf_counter() - started) * 1000
        blocked = pre.blocked
        if low and blocked is None:
            events = self._cloud(request, pre, trace)
            if events is not None:
                _close(local)  # frees the engine for others while the cloud answers
                yield P.decision("cloud", [P.LOW_CONFIDENCE], signals=signals, budget=pre.budget)
                yield from events
                return
            blocked = P.CLOUD_UNAVAILABLE
        route = "local-degraded" if low else "local"
        yield P.decision(route, [P.LOW_CONFIDENCE] if low else [], blocked if low else None, signals=signals,
                         budget=pre.budget)
        wanted = request.params.top_logprobs
        yield from _trim_top(head, wanted)
        yield from _trim_top(local, wanted)

    def _cloud(self, request: ChatRequest, pre: _Preflight, trace: Trace) -> Iterator[Event] | None:
        assert request.messages is not None
        # Counted from the moment the router turns to the cloud, so a slow local window cannot use it up.
        deadline = time.monotonic() + self.settings.cloud.deadline_s
        events = self.escalator.open_cloud(request.messages, request.params, pre.privacy, deadline,
                                           request.cancel, trace, pre.prompt_tokens, request.tools)
        if events is None or request.mode != "complete":
            return events
        try:  # nobody sees the answer before it ends: a cloud that breaks half-way is as good as unavailable
            return iter(list(events))
        except CloudError:
            return None

    def complete(self, request: ChatRequest) -> Reply:
        """Run a request to the end and collect the answer. Nobody watches it stream, so the policy scores a
        longer stretch of the local answer (`complete_window`, with its own calibration) before deciding."""
        parts: list[str] = []
        tokens: list[TokenEvent] = []
        decision: RouteDecision | None = None
        finish: Finish | None = None
        calls: list[ToolCall] = []
        for event in self._stream(request, request.mode or "complete"):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, TokenEvent):
                tokens.append(event)
            elif isinstance(event, RouteDecision):
                decision = event
            elif isinstance(event, Finish):
                finish = event
        assert finish is not None and decision is not None, "a stream ends with Finish after a decision"
        return Reply(text="".join(parts), finish=finish, decision=decision, tokens=tokens, tool_calls=calls)

    def embed(self, inputs: Sequence[Input], *, truncate: bool = False, normalize: bool = True,
              max_tokens: int | None = None, timeout: float | None = None,
              cancel: threading.Event | None = None) -> Embeddings:
        """Embeddings of `inputs` (texts or token-id arrays): one pooled, L2-normalised float32 vector per input
        from the local model, through its scheduler. Always local: vectors from another model would not compare
        with these. Errors and arguments: `Embedder.embed` (InvalidRequestError, ContextOverflowError unless
        `truncate`, EngineBusyError, TimeoutError past `timeout` seconds, RequestCancelledError once `cancel` is
        set)."""
        return self.embedder.embed(inputs, truncate=truncate, normalize=normalize, max_tokens=max_tokens,
                                   timeout=timeout, cancel=cancel)

    def close(self) -> None:
        """Release the cloud client's connections, the hidden-state and embeddings contexts (the model and its
        scheduler belong to whoever loaded it: `runtime.shutdown`)."""
        self.escalator.close()
        self.embedder.close()


def _prompt(request: ChatRequest, budget: BudgetResult | None) -> Prompt:
    if budget is not None:
        return budget.messages
    assert request.prompt is not None or request.messages is not None
    return request.prompt if request.prompt is not None else _local(request)



def _local(request: ChatRequest) -> Sequence[ChatMessage]:
    """The conversation as the local model sees it."""
    assert request.messages is not None
    return request.local_messages if request.local_messages is not None else request.messages


def _truncated(budget: BudgetResult | None) -> tuple[str, ...]:
    return (P.CONTEXT_TRUNCATED,) if budget is not None and budget.truncated else ()


def _take_window(events: Iterator[Event], k: int) -> list[Event]:
    """Events up to and including the k-th TokenEvent's text, or up to Finish if the answer is shorter."""
    head: list[Event] = []
    seen = 0
    for event in events:
        head.append(event)
        if isinstance(event, Finish):
            break
        if isinstance(event, TokenEvent):
            seen += 1
            if seen >= k:
                break
    return head


def _close(events: Iterator[Event]) -> None:
    """Stop an engine stream (the protocol: closing the iterator stops generation before the next token)."""
    close = getattr(events, "close", None)
    if close is not None:
        close()


def _trim_top(events, keep: int) -> Iterator[Event]:
    """Hide the alternatives the router asked for but the caller did not."""
    for event in events:
        if isinstance(event, TokenEvent) and len(event.top) > keep:
            event = dataclasses.replace(event, top=event.top[:keep])
        yield event
