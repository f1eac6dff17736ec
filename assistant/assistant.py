"""The Assistant: every surface's one entry point. It budgets the context, routes the request and streams events.

Surfaces (CLI, server, voice) build a `ChatRequest` and consume `stream()` or call `complete()`; they never talk to
an engine directly. Routing beyond the local engine (cloud escalation) plugs in here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .budget import BudgetResult, ContextPolicy, check_fits, fit_context, reserve_for
from .engine.events import ChatMessage, Event, Finish, RouteDecision, TextDelta, TokenEvent
from .engine.protocol import Engine, ModelInfo
from .engine.sampling import SamplingParams
from .errors import InvalidRequestError
from .settings import Privacy, Settings

RouteHint = Literal["auto", "local", "cloud"]


@dataclass(frozen=True)
class ChatRequest:
    """One request to the Assistant: chat messages or a raw completion prompt, and how to sample."""

    messages: Sequence[ChatMessage] | None = None
    """Chat messages (rendered with the model's template). Exactly one of `messages` and `prompt` is set."""
    prompt: str | None = None
    """A raw completion prompt (no template)."""
    params: SamplingParams = field(default_factory=SamplingParams)
    """Sampling parameters."""
    route: RouteHint = "auto"
    """`auto` lets the policy decide; `cloud` asks for the cloud explicitly; `local` forbids leaving the device."""
    privacy: Privacy | None = None
    """A stricter privacy mode for this request only (a looser one than the settings' is ignored)."""
    context_policy: ContextPolicy | None = None
    """Overrides the settings' context policy for this request."""
    cancel: threading.Event | None = None
    """Set it to stop generation at the next token."""

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise InvalidRequestError("a request needs either messages or a prompt", param="messages")
        if self.messages is not None and not self.messages:
            raise InvalidRequestError("messages must not be empty", param="messages")


@dataclass
class Reply:
    """A whole answer, collected from a stream."""

    text: str
    """The answer text."""
    finish: Finish
    """Finish reason, usage and timings."""
    decision: RouteDecision
    """Where it was answered and why."""
    tokens: list[TokenEvent] = field(default_factory=list)
    """Generated tokens with their log-probabilities (local answers)."""


class Assistant:
    """Routes requests between the local engine and (when configured) the cloud."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @property
    def model_info(self) -> ModelInfo:
        return self.engine.info

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
        return fit_context(request.messages, self.engine.count_tokens, self.n_ctx, reserve, policy)

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        """Events for one request: one RouteDecision first, then the engine's events, ending with Finish."""
        budget = self.budget(request)
        reasons = ("context_truncated",) if budget and budget.truncated else ()
        yield RouteDecision(route="local", reasons=reasons, budget=budget)
        prompt = budget.messages if budget is not None else request.prompt
        assert prompt is not None
        yield from self.engine.generate(prompt, request.params, cancel=request.cancel)

    def complete(self, request: ChatRequest) -> Reply:
        """Run a request to the end and collect the answer."""
        parts: list[str] = []
        tokens: list[TokenEvent] = []
        decision: RouteDecision | None = None
        finish: Finish | None = None
        for event in self.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, TokenEvent):
                tokens.append(event)
            elif isinstance(event, RouteDecision):
                decision = event
            elif isinstance(event, Finish):
                finish = event
        assert finish is not None and decision is not None, "a stream always ends with Finish after a decision"
        return Reply(text="".join(parts), finish=finish, decision=decision, tokens=tokens)
