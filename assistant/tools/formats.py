"""How a model writes a tool call: the generic format Hearth teaches models whose template knows no tools, and
the native syntaxes of tool-aware templates, which the template itself describes to the model.

- `generic` (SmolLM2, Gemma 3): `tools_block` in the system turn; one `{"name": ..., "arguments": {...}}` per line.
- `hermes` (Qwen2.5, Hermes 2/3, SmolLM3): the template lists the tools in `<tools></tools>` and asks for each
  call as `<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`; results come back in `<tool_response>`.
- `llama3` (Llama 3.1-3.3 with custom tools): the template asks for one JSON object `{"name": ..., "parameters":
  ...}` per turn (it refuses history with two calls in one turn), results as `ipython` turns.

The syntax is read off the template's own text (`ChatTemplate.tool_syntax`), as llama.cpp's server picks its
tool-call parser from the template. Mistral v0.3's `[TOOL_CALLS]` is a control token the output grammar cannot
match as text here, so Mistral models keep the generic format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Syntax = Literal["generic", "hermes", "llama3"]


@dataclass(frozen=True)
class CallFormat:
    """The text around each call's JSON object and what its arguments are called."""

    syntax: Syntax
    arguments_key: str
    """The key of the arguments object in a call: `arguments`, or Llama 3's `parameters`."""
    call_open: str = ""
    """Text before each call's object (`<tool_call>\\n`)."""
    call_close: str = ""
    """Text after each call's object (`\\n</tool_call>`)."""
    separator: str = "\n"
    """Text between two calls."""
    parallel: bool = True
    """Whether one answer may hold several calls (Llama 3's template allows one)."""

    @property
    def native(self) -> bool:
        """The chat template is given the tools and renders tool turns itself (else `generic_messages`)."""
        return self.syntax != "generic"

    @property
    def opening(self) -> str:
        """How an answer that calls begins (`{`, or the tag `<tool_call>`): an answer that does not begin with
        it is text. Text may begin with a part of it (Qwen3's `<think>`), not with all of it."""
        return self.call_open.strip() or "{"


FORMATS: dict[Syntax, CallFormat] = {
    "generic": CallFormat("generic", "arguments"),
    "hermes": CallFormat("hermes", "arguments", "<tool_call>\n", "\n</tool_call>"),
    "llama3": CallFormat("llama3", "parameters", parallel=False),
}
GENERIC = FORMATS["generic"]


def call_format(syntax: str) -> CallFormat:
    """The format of `ModelInfo.tool_syntax` (the generic one for a syntax not known here)."""
    return FORMATS.get(syntax, GENERIC)  # type: ignore[call-overload]
