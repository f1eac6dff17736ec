"""OpenAI request and response bodies (the subset Hearth serves), as pydantic models.

Requests are validated here (types and ranges, 422). Unknown top-level fields are refused (`extra="forbid"`, turned
into a 400 naming the field by the error handler); OpenAI fields Hearth cannot honour yet are accepted with any value
but left out of the OpenAPI document (`SkipJsonSchema`) and rejected with a 400 naming them (`server.translate`), so
nothing is ever silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentPart(_Open):
    """One part of a message's content; only `text` parts are supported."""

    type: str = Field(..., json_schema_extra={"enum": ["text"]})
    """`text` (other types such as `image_url` get a 400)."""
    text: str | None = None
    """The text of a `text` part."""


SUPPORTED_ROLES = ("system", "developer", "user", "assistant")


class ChatMessageIn(_Closed):
    """One input message."""

    role: str = Field(..., json_schema_extra={"enum": list(SUPPORTED_ROLES)})
    """`system`, `developer` (treated as `system`), `user` or `assistant`; others (`tool`) get a 400."""
    content: str | list[ContentPart]
    """Text, or a list of text content parts."""
    name: str | None = None
    """Optional participant name (accepted, not used by the template)."""
    tool_calls: SkipJsonSchema[Any] = None
    """Not supported until tool calling lands (400)."""
    tool_call_id: SkipJsonSchema[Any] = None
    """Not supported until tool calling lands (400)."""


class StreamOptions(_Open):
    """Options of a streamed response."""

    include_usage: bool = False
    """Send a last chunk with `usage` (and `usage: null` on every other chunk)."""


class JsonSchemaFormat(_Open):
    """`response_format.json_schema`."""

    name: str = Field("response", max_length=64)
    """The schema's name."""
    description: str | None = None
    """What the output is for."""
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    """The JSON Schema the output must validate against."""
    strict: bool | None = None
    """Accepted; output is always enforced by grammar."""


class ResponseFormat(_Open):
    """`response_format`."""

    type: Literal["text", "json_object", "json_schema"]
    """`text` (default), `json_object` (any JSON object) or `json_schema` (an object valid against a schema)."""
    json_schema: JsonSchemaFormat | None = None
    """Required when `type` is `json_schema`."""


# Fields Hearth declares so a request that uses them is answered with a 400 naming them (never silently dropped).
UNSUPPORTED_CHAT = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "logit_bias",
                    "audio", "modalities", "prediction", "web_search_options", "reasoning_effort")
UNSUPPORTED_COMPLETION = ("logit_bias", "suffix")


class _Sampling(_Closed):
    model: str = Field(..., min_length=1)
    """A model id from `/v1/models` (the loaded model or one of its aliases)."""
    max_tokens: int | None = Field(None, ge=1)
    """Most tokens to generate per choice."""
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    """Sampling temperature; 0 is greedy."""
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    n: int = Field(1, ge=1, le=8)
    """Independent choices to generate."""
    stream: bool = False
    """Stream server-sent events."""
    stream_options: StreamOptions | None = None
    """Options of a streamed response."""
    stop: str | list[str] | None = None
    """Up to 4 strings that end generation."""
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    """Same seed and request, same output (choice i uses seed + i)."""
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    """Penalty proportional to how often a token appeared."""
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    """Penalty on any token that appeared."""
    user: str | None = None
    """End-user identifier (accepted, not used)."""
    logit_bias: SkipJsonSchema[Any] = None
    """Not supported (400)."""


class ChatCompletionRequest(_Sampling):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessageIn] = Field(..., min_length=1)
    """The conversation."""
    max_completion_tokens: int | None = Field(None, ge=1)
    """Newer name of `max_tokens` (wins when both are given)."""
    logprobs: bool | None = None
    """Return the log-probability of each output token."""
    top_logprobs: int | None = Field(None, ge=0, le=20)
    """Alternatives per position (needs `logprobs: true`)."""
    response_format: ResponseFormat | None = None
    """Constrain the output to JSON."""
    tools: SkipJsonSchema[Any] = None
    """Not supported until tool calling lands (400)."""
    tool_choice: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    functions: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    function_call: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    parallel_tool_calls: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    audio: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    modalities: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    prediction: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    web_search_options: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    reasoning_effort: SkipJsonSchema[Any] = None
    """Not supported (400)."""


class CompletionRequest(_Sampling):
    """`POST /v1/completions`."""

    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[Annotated[str, Field(min_length=1)]],
                                                            Field(min_length=1, max_length=8)]
    """A prompt, or a list of prompts (each gets `n` choices)."""
    logprobs: int | None = Field(None, ge=0, le=5)
    """Return this many alternatives per output token (0: only the sampled token's log-probability)."""
    echo: bool = False
    """Prepend the prompt to each choice's text."""
    best_of: int | None = Field(None, ge=1, le=8)
    """Only `best_of == n` is supported."""
    suffix: SkipJsonSchema[Any] = None
    """Not supported (400)."""


class ModelCard(BaseModel):
    """One entry of `/v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "hearth"


class ModelList(BaseModel):
    """`GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprobOut(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprobOut(TopLogprobOut):
    top_logprobs: list[TopLogprobOut]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprobOut] | None
    refusal: list[TokenLogprobOut] | None = None


class AssistantMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessageOut
    logprobs: ChoiceLogprobs | None
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    """A whole chat completion (`stream: false`); streams send `chat.completion.chunk` events instead."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChatChoice]
    usage: Usage


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None
    finish_reason: Literal["stop", "length"]


class Completion(BaseModel):
    """A whole text completion (`stream: false`)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[CompletionChoice]
    usage: Usage


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """Every error response."""

    error: ErrorBody


class Health(BaseModel):
    """`GET /health` when serving."""

    status: Literal["ok"] = "ok"
    model: str
