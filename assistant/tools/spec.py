"""What a request says about tools: the functions the model may call and how it must choose (OpenAI's `tools`,
`tool_choice` and `parallel_tool_calls`), checked once when built."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from ..encodable import require_encodable
from ..errors import InvalidRequestError
from .formats import GENERIC, CallFormat

# OpenAI's rule for function names ("a-z, A-Z, 0-9, or contain underscores and dashes, max length of 64").
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ChoiceMode = Literal["auto", "none", "required", "named"]
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Tool:
    """One function the model may call."""

    name: str
    """The function's name (`[A-Za-z0-9_-]{1,64}`)."""
    description: str = ""
    """What it does (shown to the model)."""
    parameters: dict[str, Any] = field(default_factory=lambda: dict(NO_PARAMETERS))
    """JSON Schema of the arguments object (an object schema; empty means no arguments)."""


@dataclass(frozen=True)
class ToolSpec:
    """The tools of one request and how the model must use them.

    `choice`: `auto` (text or calls, the model decides), `none` (text only; the tools are not shown), `required`
    (one or more calls, no text), `named` (calls of `name` only). `parallel`: several calls per answer (one JSON
    object per line) or exactly one. Raises InvalidRequestError (param `tools` or `tool_choice`)."""

    tools: tuple[Tool, ...]
    choice: ChoiceMode = "auto"
    name: str | None = None
    parallel: bool = True

    def __post_init__(self) -> None:
        seen: set[str] = set()
        # Tool text goes into the prompt: text that cannot be encoded would fail deep in tokenisation.
        require_encodable([{"name": t.name, "description": t.description, "parameters": t.parameters}
                           for t in self.tools], "tools")
        for i, tool in enumerate(self.tools):
            if not _NAME.fullmatch(tool.name):
                raise InvalidRequestError(f"tools[{i}].function.name must match [A-Za-z0-9_-]{{1,64}}",
                                          param=f"tools[{i}].function.name")
            if tool.name in seen:
                raise InvalidRequestError(f"tools[{i}]: the name '{tool.name}' is used twice",
                                          param=f"tools[{i}].function.name")
            seen.add(tool.name)
        if self.choice != "none" and not self.tools:
            raise InvalidRequestError("tool_choice needs at least one tool in 'tools'", param="tool_choice")
        if (self.choice == "named") != (self.name is not None):
            raise InvalidRequestError("a named tool_choice needs a function name", param="tool_choice")
        if self.name is not None and self.name not in seen:
            raise InvalidRequestError(f"tool_choice names '{self.name}', which is not in 'tools'",
                                      param="tool_choice")

    @property
    def offered(self) -> tuple[Tool, ...]:
        """The tools the model is shown and may call (none for `none`, one for `named`)."""
        if self.choice == "none":
            return ()
        return tuple(t for t in self.tools if self.name is None or t.name == self.name)

    @property
    def must_call(self) -> bool:
        """Whether the answer is calls only (`required` or `named`)."""
        return self.choice in ("required", "named")

    @property
    def grammar(self) -> str | None:
        """The GBNF grammar of the answer in the generic call format (None for `none`); see `grammar_for`."""
        return self.grammar_for(GENERIC)

    def grammar_for(self, fmt: CallFormat) -> str | None:
        """The GBNF grammar of the answer in `fmt` (None for `none`), built once per format, the first time it is
        asked for (a large schema can take a while: surfaces ask off their event loop, which also checks every
        schema). Raises InvalidRequestError."""
        from .grammar import tools_grammar

        if fmt not in self._grammars:
            self._grammars[fmt] = tools_grammar(self, fmt)
        return self._grammars[fmt]

    @cached_property
    def _grammars(self) -> dict[CallFormat, str | None]:
        return {}

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)
