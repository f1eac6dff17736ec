"""OpenAI request and response bodies (the subset Hearth serves), as pydantic models.

Requests are validated here (types, ranges and text that cannot be encoded: 400 naming the field). Unknown top-level
fields are refused (`extra="forbid"`, turned into a 400 naming the field by the error handler); OpenAI fields Hearth
cannot honour yet are accepted with any value but left out of the OpenAPI document (`SkipJsonSchema`) and rejected
with a 400 naming them (`server.translate`), so nothing is ever silently dropped. llama.cpp's server extensions
(`top_k`, `min_p`, `repeat_penalty`, `repeat_last_n`, `grammar`) are accepted as that server accepts them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from assistant.encodable import unencodable_path


def _refuse_unencodable(value: Any) -> Any:
    # Models inside the value were checked field by field when they were built (with exact locations).
    where = unencodable_path(value, skip=(BaseModel,))
    if where is not None:
        raise PydanticCustomError("unencodable_text", "contains a lone surrogate at '{where}' (text that is not "
                                  "valid Unicode)" if where else "contains a lone surrogate (text that is not "
                                  "valid Unicode)", {"where": where})
    return value


INT32_MAX = 2**31 - 1  # llama.cpp takes these as C ints


class Checked(BaseModel):
    """Every field, and any extra field, holds only text that can be encoded as UTF-8."""

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        return _refuse_unencodable(value)

    @model_validator(mode="after")
    def _encodable_extra(self) -> Any:
        if self.model_extra:
            _refuse_unencodable(self.model_extra)
        return self


class _Open(Checked):
    model_config = ConfigDict(extra="allow")


class _Closed(Checked):
    model_config = ConfigDict(extra="forbid")


class ContentPart(_Open):
    """One part of a message's content; only `text` parts are supported."""

    type: str = Field(..., json_schema_extra={"enum": ["text"]})
    """`text` (other types such as `image_url` get a 400)."""
    text: str | None = None
    """The text of a `text` part."""


SUPPORTED_ROLES = ("system", "developer", "user", "assistant", "tool")


class FunctionCallIn(_Open):
    """The function of an earlier tool call."""

    name: str
    """The tool's name."""
    arguments: str
    """The arguments as a JSON object text (anything else is a 400 naming the message)."""


class ToolCallIn(_Open):
    """One tool call of an earlier assistant message."""

    id: str = Field(..., min_length=1)
    """The call's id (the `tool` message with its result echoes it)."""
    type: Literal["function"] = "function"
    """Always `function`."""
    function: FunctionCallIn
    """What was called."""


class ChatMessageIn(_Closed):
    """One input message."""

    role: str = Field(..., json_schema_extra={"enum": list(SUPPORTED_ROLES)})
    """`system`, `developer` (treated as `system`), `user`, `assistant` or `tool` (a tool call's result)."""
    content: str | list[ContentPart] | None = None
    """Text, or a list of text content parts; null only on an assistant message with `tool_calls`."""
    name: str | None = None
    """Optional participant name (accepted, not used by the template)."""
    tool_calls: list[ToolCallIn] | None = None
    """An assistant message's tool calls."""
    tool_call_id: str | None = None
    """A `tool` message's call id."""


class FunctionIn(_Open):
    """A function the model may call."""

    name: str
    """`[A-Za-z0-9_-]{1,64}`."""
    description: str | None = None
    """What it does (shown to the model)."""
    parameters: dict[str, Any] | None = None
    """JSON Schema of its arguments object (enforced by grammar; keywords it cannot enforce get a 400)."""
    strict: bool | None = None
    """Accepted; arguments are always enforced by grammar."""


class ToolIn(_Open):
    """One entry of `tools`."""

    type: Literal["function"]
    """Only `function`."""
    function: FunctionIn
    """The function."""


class NamedFunction(_Open):
    name: str
    """The function to call."""


class NamedToolChoice(_Open):
    """`tool_choice` naming one function."""

    type: Literal["function"]
    function: NamedFunction


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
UNSUPPORTED_CHAT = ("functions", "function_call", "audio", "modalities", "prediction", "web_search_options", "reasoning_effort")
UNSUPPORTED_COMPLETION = ("suffix",)


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
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    """Token id (as a string) -> bias added to its logit; -100 bans the token, 100 makes it the only choice."""
    top_k: int | None = Field(None, ge=-1, le=INT32_MAX)
    """llama.cpp extension: keep only the K most likely tokens (0 or -1 disables)."""
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    """llama.cpp extension: drop tokens less likely than this fraction of the most likely one."""
    repeat_penalty: float | None = Field(None, gt=0.0, le=4.0)
    """llama.cpp extension: multiplicative penalty on tokens among the last `repeat_last_n` (1.0 disables)."""
    repeat_last_n: int | None = Field(None, ge=-1, le=INT32_MAX)
    """llama.cpp extension: how many recent tokens the penalties look at (0 disables, -1 the whole context)."""
    grammar: str | None = Field(None, min_length=1)
    """llama.cpp extension: a GBNF grammar the output must follow (its start rule is `root`)."""


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
    truncation: Literal["auto", "disabled"] | None = None
    """Extension (the Responses API's name): `auto` drops the oldest whole exchanges of a conversation longer than
    the context (the response then says how many tokens went: `usage.truncated_tokens` and the
    `x-hearth-truncated-tokens` header); `disabled` answers 400 `context_length_exceeded` instead. Default: the
    server's `server.truncation` setting."""
    tools: list[ToolIn] | None = Field(None, min_length=1, max_length=128)
    """Functions the model may call (1 to 128, as OpenAI's); a grammar built from each schema enforces arguments."""
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    """`auto` (default with tools), `none`, `required` (calls only) or a named function."""
    parallel_tool_calls: bool | None = None
    """Whether an answer may hold several calls (default true)."""
    functions: SkipJsonSchema[Any] = None
    """Not supported (400)."""
    function_call: SkipJsonSchema[Any] = None
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
    truncated_tokens: int | None = None
    """Prompt tokens dropped to fit the context (only present when the conversation was truncated)."""


class TopLogprobOut(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprobOut(TopLogprobOut):
    top_logprobs: list[TopLogprobOut]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprobOut] | None
    refusal: list[TokenLogprobOut] | None = None


class FunctionCallOut(BaseModel):
    name: str
    arguments: str
    """A JSON object text valid against the tool's parameter schema."""


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class AssistantMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    """Null when the answer is only tool calls."""
    refusal: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessageOut
    logprobs: ChoiceLogprobs | None
    finish_reason: Literal["stop", "length", "tool_calls"]


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


class SlotsHealth(BaseModel):
    """The model's slots (sequences decoded together)."""

    total: int
    busy: int
    waiting: int
    """Sequences waiting for a free slot."""


class Health(BaseModel):
    """`GET /health` when serving."""

    status: Literal["ok"] = "ok"
    model: str
    n_ctx: int
    """The loaded context window in tokens (shared by the slots)."""
    slots: SlotsHealth
