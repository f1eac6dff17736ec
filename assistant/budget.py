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

    @property
    def truncated(self) -> bool:
        return bool(self.dropped)


def reserve_for(max_tokens: int | None, reserve_tokens: int) -> int:
    """Tokens to keep free: the request's max_tokens when it asks for less than the default reserve."""
    return min(max_tokens, reserve_tokens) if max_tokens else reserve_tokens


def fit_context(messages: Sequence[ChatMessage], count: Callable[[Sequence[ChatMessage]], int], n_ctx: int,
                reserve: int, policy: ContextPolicy) -> BudgetResult:
    """Apply `policy` when prompt + reserve exceed `n_ctx`.

    `truncate-oldest` keeps every system message and the newest turns, dropping whole messages from the oldest
    non-system one on; the newest message is never dropped. `error` raises ContextOverflowError.
    """
    messages = tuple(messages)
    tokens = count(messages)
    limit = n_ctx - reserve
    if tokens <= limit:
        return BudgetResult(messages, tokens, reserve, n_ctx)
    overflow = tokens - limit
    if policy == "error":
        raise _overflow(tokens, reserve, n_ctx)
    kept = list(messages)
    dropped: list[ChatMessage] = []
    while tokens > limit:
        idx = next((i for i, m in enumerate(kept[:-1]) if m.role != "system"), None)
        if idx is None:
            raise _overflow(tokens, reserve, n_ctx)
        dropped.append(kept.pop(idx))
        tokens = count(kept)
    return BudgetResult(tuple(kept), tokens, reserve, n_ctx, tuple(dropped), overflow)


def check_fits(prompt_tokens: int, reserve: int, n_ctx: int) -> None:
    """Raise ContextOverflowError unless a prompt that cannot be truncated fits with its reserve."""
    if prompt_tokens + reserve > n_ctx:
        raise _overflow(prompt_tokens, reserve, n_ctx)


def _overflow(tokens: int, reserve: int, n_ctx: int) -> ContextOverflowError:
    return ContextOverflowError(
        f"the prompt has {tokens} tokens and {reserve} are reserved for the reply, but the context window is "
        f"{n_ctx} tokens", prompt_tokens=tokens, limit=n_ctx)
