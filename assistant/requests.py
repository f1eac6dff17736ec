"""What a surface hands the Assistant (`ChatRequest`) and what a whole answer comes back as (`Reply`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .budget import ContextPolicy
from .encodable import require_encodable
from .engine.events import ChatMessage, Finish, RouteDecision, TokenEvent, ToolCall
from .engine.sampling import SamplingParams
from .errors import InvalidRequestError
from .escalation.defaults import Mode
from .settings import Privacy
from .tools import ToolSpec

RouteHint = Literal["auto", "local", "cloud"]


@dataclass(frozen=True)
class ChatRequest:
    """One request to the Assistant: chat messages or a raw completion prompt, and how to sample."""

    messages: Sequence[ChatMessage] | None = None
    """Chat messages (rendered with the model's template). Exactly one of `messages` and `prompt` is set."""
    prompt: str | None = None
    """A raw completion prompt (no template); answered locally (a chat cloud cannot continue it)."""
    params: SamplingParams = field(default_factory=SamplingParams)
    """Sampling parameters."""
    route: RouteHint = "auto"
    """`auto` lets the policy decide; `cloud` asks for the cloud; `local` forbids leaving the device."""
    privacy: Privacy | None = None
    """A stricter privacy mode for this request only (a looser one than the settings' is ignored)."""
    context_policy: ContextPolicy | None = None
    """Overrides the settings' context policy for this request."""
    cancel: threading.Event | None = None
    """Set it to stop generation at the next token."""
    model: str | None = None
    """The model name a client asked for; a cloud alias (`cloud.aliases`) or the cloud model's name means
    `route="cloud"`. Other names are the surface's business (the local model answers)."""
    mode: Mode | None = None
    """How the answer is consumed, which picks the confidence window and calibration: `stream` (the first
    `decision_window` tokens) or `complete` (the whole answer, up to `complete_window` tokens: nobody sees it
    before it is done, so a cloud answer is also collected before it is passed on, and one that breaks half-way
    is replaced by the local answer, `local-degraded`). None: `stream` from `stream()`, `complete` from
    `complete()`."""
    tools: ToolSpec | None = None
    """Tools the model may call (chat messages only); the answer's calls come as `ToolCall` events. Routed like
    any request: a low-confidence local answer (its window covers the call's tool name and first arguments) or
    an overflow goes to the cloud with the same tools, whose calls come back as the same events."""
    local_messages: Sequence[ChatMessage] | None = None
    """What the local model is shown instead of `messages` (set by the Assistant for requests with tools:
    `tools.local_view`); the cloud always gets `messages` and `tools` as the client sent them."""
    local_tools: tuple[dict, ...] | None = None
    """The tools the local model's own chat template is given (set by the Assistant for a template that knows
    tools: `tools.formats`), as OpenAI `tools` entries."""

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise InvalidRequestError("a request needs either messages or a prompt", param="messages")
        if self.messages is not None and not self.messages:
            raise InvalidRequestError("messages must not be empty", param="messages")
        if self.tools is not None and self.messages is None:
            raise InvalidRequestError("tools need chat messages, not a raw prompt", param="tools")
        # Text that cannot be encoded would fail deep in tokenisation; refuse it here, naming where it is.
        if self.messages is not None and self.local_messages is None:  # the local ones are derived from these
            require_encodable([{"role": m.role, "content": m.content} for m in self.messages], "messages")
        require_encodable(self.prompt, "prompt")
        require_encodable(list(self.params.stop), "stop")
        require_encodable(self.params.grammar, "grammar")


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
    tool_calls: list[ToolCall] = field(default_factory=list)
    """The answer's tool calls (requests with tools)."""
