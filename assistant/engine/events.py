"""Typed events of a generation stream, and the small value types they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of one of the request's tools, emitted once the call is complete (its arguments parse), and carried
    by the assistant messages of a conversation's history."""

    id: str
    """Unique id (`call_` + hex), echoed by the `tool` message that carries the result."""
    name: str
    """The tool's name."""
    arguments: str
    """The arguments as a JSON object text (it validates against the tool's parameter schema)."""
    index: int = 0
    """Position among the calls of one answer (0-based)."""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a call still being written, for surfaces that stream calls as they grow (OpenAI's
    `delta.tool_calls`): the first piece of a call carries its id and name and `arguments` "", later ones the next
    fragment of its arguments' JSON text. The call's `ToolCall` follows when it is complete; its `arguments` is the
    fragments joined. Surfaces that show whole calls ignore these."""

    id: str
    name: str
    arguments: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation."""

    role: str
    """`system`, `user`, `assistant` or `tool` (templates may accept more)."""
    content: str
    """The message text."""
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant message's tool calls (history)."""
    tool_call_id: str | None = None
    """A `tool` message's call id: the result it carries is that call's."""


@dataclass(frozen=True, slots=True)
class TopLogprob:
    """One alternative the model considered at a position."""

    token_id: int
    """Vocabulary id."""
    piece: bytes
    """The token's bytes (may be part of a UTF-8 character)."""
    logprob: float
    """Natural-log probability under the model's raw distribution."""


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """A generated token, emitted as soon as it is sampled (before its text may be released)."""

    token_id: int
    """Vocabulary id of the sampled token."""
    piece: bytes
    """The token's bytes."""
    logprob: float
    """Log-probability of this token under the model's raw (unpenalised, untempered) distribution."""
    top: tuple[TopLogprob, ...] = ()
    """The most likely alternatives at this position, best first (empty unless asked for)."""
    entropy: float | None = None
    """Entropy (nats) of the full next-token distribution at this position; None if not computed."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Text that is final: never a broken UTF-8 character, never part of a stop string."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one generation."""

    prompt_tokens: int
    """Tokens in the prompt."""
    completion_tokens: int
    """Tokens generated (including any that formed a stop string)."""
    cached_tokens: int = 0
    """Prompt tokens whose KV cache was reused from the previous request."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Timings:
    """Wall-clock timings of one generation, in seconds."""

    prefill_s: float
    """Time to process the (uncached part of the) prompt."""
    ttft_s: float
    """Time from the request to the first generated token."""
    decode_s: float
    """Time spent generating after the first token."""

    def decode_tok_s(self, completion_tokens: int) -> float:
        """Tokens per second after the first token (the first one is prefill's)."""
        if completion_tokens <= 1 or self.decode_s <= 0:
            return 0.0
        return (completion_tokens - 1) / self.decode_s


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of every stream."""

    reason: FinishReason
    """`stop` (end-of-generation token or stop string), `length` (max_tokens or context) or `cancelled`."""
    usage: Usage
    """Token counts."""
    timings: Timings
    """Where the time went."""
    stop_string: str | None = None
    """The stop string that ended generation, if any."""


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where the Assistant sent a request and why (emitted by the Assistant, never by an engine)."""

    route: Literal["local", "cloud", "local-degraded"]
    """Which model answers."""
    reasons: tuple[str, ...] = ()
    """Reason codes, e.g. `context_overflow`, `low_confidence`, `explicit`, `local_failure`, `cloud_unavailable`."""
    signals: dict[str, float] = field(default_factory=dict)
    """Signal values the decision was based on."""
    budget: Any = None
    """The `assistant.budget.BudgetResult` of the prompt (what the context policy dropped), when one applied."""


EngineEvent = Union[TokenEvent, TextDelta, Finish]
Event = Union[TokenEvent, TextDelta, Finish, RouteDecision, ToolCall, ToolCallDelta]
