"""Ollama request bodies (the subset Hearth serves), as pydantic models; see ollama/ollama `docs/api.md`.

Unknown top-level fields are refused (400 naming them), as on the OpenAI side. Fields of Ollama's API that Hearth
cannot honour are declared (left out of the OpenAPI document) and refused by `server.ollama.translate` with a 400
naming them. `options` is different: Ollama itself ignores option names it does not know, and clients send load-time
options (`num_ctx`, `num_thread`, ...) with every request, so `Options` accepts any name; which are honoured,
ignored or refused is listed in `server.ollama.translate` and the README.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ..schemas import Checked, ToolIn


class _Closed(Checked):
    model_config = ConfigDict(extra="forbid")


class Options(Checked):
    """`options`: sampling parameters (honoured) and load-time parameters (accepted, fixed at load)."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(None, ge=0.0, le=2.0)
    """Sampling temperature; 0 is greedy."""
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    top_k: int | None = Field(None, ge=0)
    """Keep the K most likely tokens (0 disables)."""
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    """Drop tokens less likely than this fraction of the most likely one."""
    typical_p: float | None = Field(None, gt=0.0, le=1.0)
    """Only 1.0 (disabled) is supported (400 otherwise)."""
    repeat_penalty: float | None = Field(None, ge=0.0, le=4.0)
    """Multiplicative penalty on recently seen tokens (1.0 disables)."""
    repeat_last_n: int | None = Field(None, ge=-1)
    """How many recent tokens the penalties look at (-1: the whole context, 0: none)."""
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    """Additive penalty on any token that appeared."""
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    """Additive penalty proportional to how often a token appeared."""
    seed: int | None = Field(None, le=2**63 - 1)
    """Same seed and request, same output; negative means random (Ollama's -1)."""
    num_predict: int | None = None
    """Most tokens to generate; -1 or -2: until the context is full."""
    stop: str | list[str] | None = None
    """Up to 4 strings that end generation."""
    num_ctx: int | None = Field(None, ge=1)
    """Accepted; the context window is fixed when the server loads the model."""


class FunctionCall(Checked):
    """The function of a tool call, as Ollama writes it: arguments as a JSON object, not a string."""

    name: str = Field(..., min_length=1)
    """The tool's name."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """The arguments."""
    index: int | None = None
    """The call's position in its message (newer Ollama versions send it)."""


class ToolCallIn(Checked):
    """One tool call of an earlier assistant message."""

    function: FunctionCall
    """The call."""


class Message(_Closed):
    """One chat message."""

    role: str = Field(..., json_schema_extra={"enum": ["system", "user", "assistant", "tool"]})
    """`system`, `user`, `assistant` or `tool` (a tool's result)."""
    content: str | None = ""
    """The text."""
    thinking: str | None = None
    """A thinking model's earlier reasoning: accepted, not shown to the model."""
    images: SkipJsonSchema[Any] = None
    """Not supported: the loaded model reads text only (400)."""
    tool_calls: list[ToolCallIn] | None = Field(None, max_length=128)
    """An assistant message's tool calls."""
    tool_name: str | None = None
    """A `tool` message's tool (which earlier call it answers; else the next unanswered one)."""


class GenerationBody(_Closed):
    model: str = Field(..., min_length=1)
    """A name from `/api/tags` (`:latest` may be appended)."""
    stream: bool = True
    """Stream NDJSON lines (Ollama's default) or answer with one object."""
    format: Literal["", "json"] | dict[str, Any] | None = None
    """`json` (any JSON object) or a JSON Schema the output must follow (enforced by a grammar)."""
    options: Options | None = None
    """Model parameters (see `Options`)."""
    keep_alive: float | str | None = None
    """Accepted; the model stays loaded as long as the server runs."""
    think: bool | str | None = None
    """Only false: the served models do not think (400 otherwise)."""
    logprobs: SkipJsonSchema[Any] = None
    """Not supported on the Ollama API (400 when true); `/v1/chat/completions` has logprobs."""
    top_logprobs: SkipJsonSchema[Any] = None
    """Not supported on the Ollama API (400 when set)."""


class ChatBody(GenerationBody):
    """`POST /api/chat`."""

    messages: list[Message] = Field(default_factory=list)
    """The conversation; empty loads the model (Ollama's convention) and returns at once."""
    tools: list[ToolIn] | None = Field(None, max_length=128)
    """Functions the model may call (OpenAI's tool shape); each call's arguments are enforced by a grammar built from
    its JSON Schema. Ollama has no tool_choice: the model answers in text or with calls."""


class GenerateBody(GenerationBody):
    """`POST /api/generate`."""

    prompt: str = ""
    """The prompt; empty loads the model and returns at once."""
    system: str | None = None
    """System prompt (ignored with `raw`)."""
    raw: bool = False
    """Send the prompt as is, without the chat template."""
    suffix: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    template: SkipJsonSchema[Any] = None
    """Not supported: the model's own chat template is used (400)."""
    context: SkipJsonSchema[Any] = None
    """Not supported (deprecated in Ollama; send the conversation to /api/chat) (400)."""
    images: SkipJsonSchema[Any] = None
    """Not supported: the loaded model reads text only (400)."""
    width: SkipJsonSchema[Any] = None
    """Image generation is not supported (400)."""
    height: SkipJsonSchema[Any] = None
    """Image generation is not supported (400)."""
    steps: SkipJsonSchema[Any] = None
    """Image generation is not supported (400)."""


class ShowBody(_Closed):
    """`POST /api/show` (`name` is the older spelling of `model`)."""

    model: str | None = None
    name: str | None = None
    verbose: bool | None = None
    """Accepted; large tokenizer arrays are never listed."""


class PullBody(_Closed):
    """`POST /api/pull` (`name` is the older spelling of `model`)."""

    model: str | None = None
    name: str | None = None
    insecure: bool | None = None
    """Accepted; catalog downloads are always verified against a pinned or published SHA-256."""
    stream: bool = True
    """Stream progress lines, or answer `{"status": "success"}` when done."""


def _ollama_input(value: Any) -> Any:
    # Ollama's own wording for any other shape (server/routes.go: "invalid input type"), with what it accepts.
    if value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise PydanticCustomError("invalid_input", "invalid input type: input is a string or a list of strings")


class EmbedBody(_Closed):
    """`POST /api/embed`."""

    model: str = Field(..., min_length=1)
    """A name from `/api/tags` (`:latest` may be appended)."""
    input: str | list[str] | None = None
    """A text or a list of texts; empty (or absent) only loads the model, as in Ollama."""
    truncate: bool = True
    """Cut inputs longer than the context window to fit (Ollama's default); false answers 400 instead. How many
    tokens were cut is in the `x-hearth-truncated-tokens` header."""
    options: Options | None = None
    """Accepted and not used (no option changes an embedding)."""
    keep_alive: float | str | None = None
    """Accepted; the model stays loaded as long as the server runs."""
    dimensions: int | None = Field(None, ge=1)
    """Only the model's own size is accepted (its vectors cannot be shortened): other values get a 400."""

    _input = field_validator("input", mode="before")(_ollama_input)


class EmbeddingsBody(_Closed):
    """`POST /api/embeddings` (Ollama's older endpoint)."""

    model: str = Field(..., min_length=1)
    """A name from `/api/tags`."""
    prompt: str = ""
    """The text; empty only loads the model."""
    options: Options | None = None
    """Accepted and not used."""
    keep_alive: float | str | None = None
    """Accepted; the model stays loaded as long as the server runs."""
