"""Context budget: make a conversation fit the context window, or say exactly why it cannot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .engine.events import ChatMessage
from .errors import ContextOverflowError

ContextPolicy = Literal["error", "truncate-oldest"]


@dataclass(frozen=True, slots=True)
class BudgetResult:
    """What the context budget did to a conversation."""

    messages: tuple[ChatMessage, ...]
    """The messages to send (after any truncation)."""
    prompt_tokens: int
    """Exact prompt tokens of `messages`."""
    reserve_tokens: int
    """Tokens kept free for the reply."""
    n_ctx: int
    """The context window."""
    dropped: tuple[ChatMessage, ...] = ()
    """Messages removed, oldest first."""
    overflow_tokens: int = 0
    """By how much the original prompt plus reserve exceeded the window (0 if it fit)."""
    dropped_tokens: int = 0
    """Prompt tokens the truncation removed (the original prompt's tokens minus `prompt_tokens`)."""

    @property
    def truncated(self) -> bool:
        return bool(self.dropped)


def reserve_for(max_tokens: int | None, reserve_tokens: int) -> int:
    """Tokens to keep free: the request's max_tokens when it asks for less than the default reserve."""
    return min(max_tokens, reserve_tokens) if max_tokens else reserve_tokens


def fit_context(messages: Sequence[ChatMessage], count: Callable[[Sequence[ChatMessage]], int], n_ctx: int,
                reserve: int, policy: ContextPolicy) -> BudgetResult:
    """Apply `policy` when prompt + reserve exceed `n_ctx`.

    `truncate-oldest` keeps every system message and the newest turns, dropping whole exchanges (a user message
    and the replies up to the next user message) from the oldest on, so the remaining roles still alternate
    (templates such as Gemma 3's and Mistral's refuse a conversation that does not); the exchange holding the
    newest message is never dropped. `error` raises ContextOverflowError, as does a conversation that still does
    not fit with only its newest exchange left.
    """
    messages = tuple(messages)
    tokens = count(messages)
    limit = n_ctx - reserve
    if tokens <= limit:
        return BudgetResult(messages, tokens, reserve, n_ctx)
    original, overflow = tokens, tokens - limit
    if policy == "error":
        raise _overflow(tokens, reserve, n_ctx)
    exchanges = _exchanges(messages)

    def without(k: int) -> list[ChatMessage]:
        gone = {i for exchange in exchanges[:k] for i in exchange}
        return [m for i, m in enumerate(messages) if i not in gone]

    # Fewer tokens with every exchange dropped: binary-search the fewest to drop (log n counts, not n, for a long
    # conversation of short turns).
    if not exchanges or (tokens := count(without(len(exchanges)))) > limit:
        raise _overflow(tokens, reserve, n_ctx)
    lo, hi = 1, len(exchanges)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(without(mid)) <= limit:
            hi = mid
        else:
            lo = mid + 1
    kept = without(lo)
    tokens = count(kept)
    dropped = tuple(messages[i] for exchange in exchanges[:lo] for i in exchange)
    return BudgetResult(tuple(kept), tokens, reserve, n_ctx, dropped, overflow, original - tokens)


def _exchanges(messages: Sequence[ChatMessage]) -> list[list[int]]:
    """Indices of each droppable exchange, oldest first: a run of non-system messages from one user message up to
    the next (the first may start with a reply). The exchange holding the newest message is not droppable."""
    out: list[list[int]] = []
    for i, m in enumerate(messages):
        if m.role == "system":
            continue
        if m.role == "user" or not out:
            out.append([])
        out[-1].append(i)
    return out[:-1]


def check_fits(prompt_tokens: int, reserve: int, n_ctx: int) -> None:
    """Raise ContextOverflowError unless a prompt that cannot be truncated fits with its reserve."""
    if prompt_tokens + reserve > n_ctx:
        raise _overflow(prompt_tokens, reserve, n_ctx)


def _overflow(tokens: int, reserve: int, n_ctx: int) -> ContextOverflowError:
    return ContextOverflowError(
        f"the prompt has {tokens} tokens and {reserve} are reserved for the reply, but the context window is "
        f"{n_ctx} tokens", prompt_tokens=tokens, limit=n_ctx)
