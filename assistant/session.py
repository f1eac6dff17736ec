"""A conversation: the system prompt and its turns. The Assistant applies the context budget to the messages a
session hands it and reports what it dropped (a `BudgetResult`); `forget` makes the history follow suit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .budget import BudgetResult, ContextPolicy
from .engine.events import ChatMessage
from .errors import InvalidRequestError

SAVE_FORMAT = "hearth.chat/1"
"""The `format` tag of a saved conversation (`Session.to_dict`)."""


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

    def to_dict(self) -> dict[str, Any]:
        """The conversation as JSON-ready data: `{"format", "system", "turns": [{"role", "content"}, ...]}`."""
        return {"format": SAVE_FORMAT, "system": self.system,
                "turns": [{"role": m.role, "content": m.content} for m in self.turns]}

    def load_dict(self, data: Any) -> None:
        """Replace the system prompt and turns with those of `to_dict` data (InvalidRequestError, naming what is
        wrong, leaves the session as it was)."""
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
            raise InvalidRequestError('not a saved conversation: expected an object with a "turns" list')
        if data.get("format", SAVE_FORMAT) != SAVE_FORMAT:
            raise InvalidRequestError(f"unknown conversation format {data['format']!r} (expected {SAVE_FORMAT})")
        system = data.get("system")
        if system is not None and not isinstance(system, str):
            raise InvalidRequestError('"system" must be a string or null')
        turns = []
        for i, turn in enumerate(data["turns"]):
            if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant") \
                    or not isinstance(turn.get("content"), str):
                raise InvalidRequestError(f'turns[{i}] must be {{"role": "user" or "assistant", "content": text}}')
            turns.append(ChatMessage(turn["role"], turn["content"]))
        self.system, self.turns = system or None, turns
