"""A conversation: the system prompt and its turns. The Assistant applies the context budget to the messages a
session hands it and reports what it dropped (a `BudgetResult`); `forget` makes the history follow suit."""

from __future__ import annotations

from dataclasses import dataclass, field

from .budget import BudgetResult, ContextPolicy
from .engine.events import ChatMessage


@dataclass
class Session:
    """Chat history owned by one surface (the chat REPL, a voice conversation)."""

    system: str | None = None
    """System prompt; None uses the model template's default."""
    turns: list[ChatMessage] = field(default_factory=list)
    """User and assistant messages, oldest first."""
    policy: ContextPolicy = "truncate-oldest"
    """What to do when the conversation outgrows the context window."""
    reserve_tokens: int = 256
    """Tokens kept free for the reply."""

    def messages(self, user_text: str | None = None) -> list[ChatMessage]:
        msgs = [ChatMessage("system", self.system)] if self.system else []
        msgs += self.turns
        if user_text is not None:
            msgs.append(ChatMessage("user", user_text))
        return msgs

    def forget(self, budget: BudgetResult) -> None:
        """Drop from the history the turns the context budget dropped, so later turns stay within the window."""
        for message in budget.dropped:  # oldest first, as the budget dropped them
            if message in self.turns:
                self.turns.remove(message)

    def record(self, user_text: str, reply: str) -> None:
        self.turns += [ChatMessage("user", user_text), ChatMessage("assistant", reply)]

    def reset(self) -> None:
        self.turns.clear()
