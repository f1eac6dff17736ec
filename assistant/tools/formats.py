"""How a model writes a tool call: the generic format Hearth teaches models whose template knows no tools, and
the native syntaxes of tool-aware templates, which the template itself describes to the model.

- `generic` (SmolLM2, Gemma 3): `tools_block` in the system turn; one `{"name": ..., "arguments": {...}}` per line.
- `hermes` (Qwen2.5, Hermes 2/3, SmolLM3): the template lists the tools in `<tools></tools>` and asks for each
  call as `<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`; results come back in `<tool_response>`.
- `llama3` (Llama 3.1-3.3 with custom tools): the template asks for one JSON object `{"name": ..., "parameters":
  ...}` per turn (it refuses history with two calls in one turn), results as `ipython` turns.
- `mistral` (Mistral 7B v0.3, Mistral Nemo; not the `name[ARGS]` calls of Mistral Small 3.2): the tools in `[AVAILABLE_TOOLS]`, the calls as one JSON
  array after the control token `[TOOL_CALLS]` (`[TOOL_CALLS][{"name": ..., "arguments": ...}, ...]`), results in
  `[TOOL_RESULTS]`; call ids in the history must be 9 letters or digits (`prompt.local_view` maps them).

The syntax is read off the template's own text (`ChatTemplate.tool_syntax`), as llama.cpp's server picks its
tool-call parser from the template. A format's `markers` that are single tokens of the model's vocabulary
(Mistral's control token `[TOOL_CALLS]`) are written into the answer's text by the engine, as llama.cpp's server
keeps its `preserved_tokens`, so the parser sees them; llama.cpp's grammar matches a token by its text either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Syntax = Literal["generic", "hermes", "llama3", "mistral"]


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
    calls_open: str = ""
    """Text once before all of an answer's calls (Mistral's `[TOOL_CALLS]`)."""
    array: bool = False
    """The calls are one JSON array (`[call, call]`, Mistral) rather than calls one after another."""
    id_length: int | None = None
    """The length of the letters-and-digits call ids the template insists on in the history (Mistral: 9)."""
    parallel: bool = True
    """Whether one answer may hold several calls (Llama 3's template allows one)."""

    @property
    def native(self) -> bool:
        """The chat template is given the tools and renders tool turns itself (else `generic_messages`)."""
        return self.syntax != "generic"

    @property
    def opening(self) -> str:
        """How an answer that calls begins (`{`, the tag `<tool_call>`, or `[TOOL_CALLS]`): an answer that does
        not begin with it is text. Text may begin with a part of it (Qwen3's `<think>`), not with all of it."""
        return self.calls_open or self.call_open.strip() or "{"

    @property
    def markers(self) -> tuple[str, ...]:
        """The format's own tags and tokens (`<tool_call>`, `</tool_call>`, `[TOOL_CALLS]`)."""
        return tuple(t for t in (self.calls_open, self.call_open.strip(), self.call_close.strip()) if t)


FORMATS: dict[Syntax, CallFormat] = {
    "generic": CallFormat("generic", "arguments"),
    "hermes": CallFormat("hermes", "arguments", "<tool_call>\n", "\n</tool_call>"),
    "llama3": CallFormat("llama3", "parameters", parallel=False),
    "mistral": CallFormat("mistral", "arguments", separator=", ", calls_open="[TOOL_CALLS]", array=True,
                          id_length=9),
}
GENERIC = FORMATS["generic"]


def call_format(syntax: str) -> CallFormat:
    """The format of `ModelInfo.tool_syntax` (the generic one for a syntax not known here)."""
    return FORMATS.get(syntax, GENERIC)  # type: ignore[call-overload]
