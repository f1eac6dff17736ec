"""OpenAI request bodies -> Hearth `ChatRequest`s: one per choice, each with its own `SamplingParams`.

Everything a request asks that Hearth cannot honour is rejected here with a 400 naming the parameter.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage
from assistant.engine.sampling import SamplingParams
from assistant.errors import InvalidRequestError

from .schemas import (
    SUPPORTED_ROLES,
    UNSUPPORTED_CHAT,
    UNSUPPORTED_COMPLETION,
    ChatCompletionRequest,
    ChatMessageIn,
    CompletionRequest,
    ResponseFormat,
    _Sampling,
)

MAX_STOP = 4
# Whitespace is bounded so that a grammar cannot let a small model pad forever instead of closing the object.
_ANY_OBJECT_SCHEMA = {"type": "object"}


@dataclass(frozen=True)
class Plan:
    """What the scheduler runs for one HTTP request, and how to shape its answer."""

    requests: list[ChatRequest]
    """One request per choice, in choice order (they share one cancel event)."""
    cancel: threading.Event
    """Set to stop every choice (client gone, deadline passed)."""
    want_tokens: bool
    """Whether TokenEvents are needed (logprobs were asked for)."""
    echo_prompts: list[str] | None = None
    """For completions with `echo`: the prompt text of each choice, prepended to its text."""


def _reject_unsupported(body: _Sampling, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(body, name, None)
        if value is not None:
            raise InvalidRequestError(f"'{name}' is not supported by this server", param=name)


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if len(stops) > MAX_STOP:
        raise InvalidRequestError(f"at most {MAX_STOP} stop sequences are supported", param="stop")
    if any(s == "" for s in stops):
        raise InvalidRequestError("stop sequences must not be empty", param="stop")
    return stops


def base_params(defaults: SamplingParams, body: _Sampling, max_tokens: int | None, top_logprobs: int,
                grammar: str | None) -> SamplingParams:
    update: dict[str, Any] = {"stop": _stops(body.stop), "top_logprobs": top_logprobs, "grammar": grammar}
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"):
        value = getattr(body, name)
        if value is not None:
            update[name] = value
    if max_tokens is not None:
        update["max_tokens"] = max_tokens
    return defaults.model_copy(update=update)


def choice_params(params: SamplingParams, n: int) -> list[SamplingParams]:
    """Independent parameters per choice: with a seed, choice i samples with seed + i (reproducible)."""
    if params.seed is None or n == 1:
        return [params] * n
    return [params.model_copy(update={"seed": (params.seed + i) & 0x7FFFFFFFFFFFFFFF}) for i in range(n)]


# JSON Schema keywords llama-cpp-python's grammar converter ignores: a schema using them could yield output that
# parses but does not validate, so such schemas are refused instead of being half enforced.
_UNENFORCEABLE = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties",
    "uniqueItems", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "patternProperties",
    "contains", "minContains", "maxContains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"})
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _unenforceable(schema: Any, where: str) -> str | None:
    """The location of the first keyword the grammar cannot enforce, or None."""
    if not isinstance(schema, dict):
        return None
    for key in schema:
        if key in _UNENFORCEABLE:
            return f"{where}.{key}"
    subschemas: list[tuple[str, Any]] = []
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            subschemas += [(f"{where}.{key}.{name}", sub) for name, sub in schema[key].items()]
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            subschemas += [(f"{where}.{key}[{i}]", sub) for i, sub in enumerate(schema[key])]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            subschemas.append((f"{where}.{key}", schema[key]))
    for path, sub in subschemas:
        if (found := _unenforceable(sub, path)) is not None:
            return found
    return None


def grammar_for(fmt: ResponseFormat | None) -> str | None:
    """A GBNF grammar enforcing `response_format` (None for plain text)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        schema: dict[str, Any] = _ANY_OBJECT_SCHEMA
    else:
        if fmt.json_schema is None:
            raise InvalidRequestError("response_format.json_schema is required for type 'json_schema'",
                                      param="response_format.json_schema")
        schema = fmt.json_schema.schema_ or _ANY_OBJECT_SCHEMA
        if (keyword := _unenforceable(schema, "schema")) is not None:
            raise InvalidRequestError(f"response_format.json_schema: '{keyword}' cannot be enforced by the output "
                                      "grammar; remove it", param="response_format.json_schema")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    # The converter raises bare ValueError/KeyError/... on schemas it cannot express.
    except Exception as exc:  # noqa: BLE001
        raise InvalidRequestError(f"response_format.json_schema cannot be enforced: {exc}",
                                  param="response_format.json_schema") from None


def _message(i: int, msg: ChatMessageIn) -> ChatMessage:
    if msg.role not in SUPPORTED_ROLES:
        raise InvalidRequestError(f"messages[{i}]: role '{msg.role}' is not supported (tool calling is not "
                                  f"available yet)", param=f"messages[{i}].role")
    for name in ("tool_calls", "tool_call_id"):
        if getattr(msg, name) is not None:
            raise InvalidRequestError(f"messages[{i}].{name} is not supported", param=f"messages[{i}].{name}")
    content = msg.content
    if not isinstance(content, str):
        texts = []
        for j, part in enumerate(content):
            if part.type != "text" or part.text is None:
                raise InvalidRequestError(f"messages[{i}].content[{j}]: only text content parts are supported",
                                          param=f"messages[{i}].content[{j}].type")
            texts.append(part.text)
        content = "".join(texts)
    return ChatMessage(role="system" if msg.role == "developer" else msg.role, content=content)


def plan_chat(body: ChatCompletionRequest, defaults: SamplingParams) -> Plan:
    _reject_unsupported(body, UNSUPPORTED_CHAT)
    if body.top_logprobs and not body.logprobs:
        raise InvalidRequestError("top_logprobs requires logprobs to be true", param="top_logprobs")
    messages = [_message(i, m) for i, m in enumerate(body.messages)]
    max_tokens = body.max_completion_tokens or body.max_tokens
    top = (body.top_logprobs or 0) if body.logprobs else 0
    params = base_params(defaults, body, max_tokens, top, grammar_for(body.response_format))
    cancel = threading.Event()
    requests = [ChatRequest(messages=messages, params=p, cancel=cancel, model=body.model)
                for p in choice_params(params, body.n)]
    return Plan(requests=requests, cancel=cancel, want_tokens=bool(body.logprobs))


def plan_completion(body: CompletionRequest, defaults: SamplingParams) -> Plan:
    _reject_unsupported(body, UNSUPPORTED_COMPLETION)
    if body.best_of is not None and body.best_of != body.n:
        raise InvalidRequestError("best_of is supported only when it equals n", param="best_of")
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts:
        raise InvalidRequestError("prompt must not be an empty list", param="prompt")
    if len(prompts) * body.n > 8:
        raise InvalidRequestError("at most 8 choices per request (prompts times n)", param="n")
    if body.echo and body.stream:
        raise InvalidRequestError("echo is not supported with stream", param="echo")
    want = body.logprobs is not None
    params = base_params(defaults, body, body.max_tokens, body.logprobs or 0, None)
    cancel = threading.Event()
    requests, echoes = [], []
    for prompt in prompts:
        for p in choice_params(params, body.n):
            requests.append(ChatRequest(prompt=prompt, params=p, cancel=cancel, model=body.model))
            echoes.append(prompt)
    return Plan(requests=requests, cancel=cancel, want_tokens=want, echo_prompts=echoes if body.echo else None)
