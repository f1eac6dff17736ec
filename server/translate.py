"""OpenAI request bodies -> Hearth `ChatRequest`s: one per choice, each with its own `SamplingParams`.

Everything a request asks that Hearth cannot honour is rejected here with a 400 naming the parameter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from assistant.assistant import ChatRequest
from assistant.engine.sampling import SamplingParams
from assistant.errors import InvalidRequestError

from .grammar import grammar_for, user_grammar
from .schemas import (
    UNSUPPORTED_CHAT,
    UNSUPPORTED_COMPLETION,
    ChatCompletionRequest,
    CompletionRequest,
    _Sampling,
)
from .tools_in import chat_message, check_tool_turns, tool_spec

MAX_STOP = 4


@dataclass(frozen=True)
class JobSpec:
    """What the scheduler runs for one HTTP request, (formatted by a `server.formatters.ResponseFormatter`)."""

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


def stop_strings(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if len(stops) > MAX_STOP:
        raise InvalidRequestError(f"at most {MAX_STOP} stop sequences are supported", param="stop")
    if any(s == "" for s in stops):
        raise InvalidRequestError("stop sequences must not be empty", param="stop")
    return stops


@dataclass(frozen=True)
class Limits:
    """What a request is checked against: the loaded model's context window and vocabulary size."""

    n_ctx: int
    n_vocab: int


def _logit_bias(bias: dict[str, float] | None, n_vocab: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, value in (bias or {}).items():
        if not (key.isascii() and key.isdigit()) or int(key) >= n_vocab:  # no sign, spaces or "²"
            raise InvalidRequestError(f"logit_bias: '{key}' is not a token id of this model (0..{n_vocab - 1})",
                                      param="logit_bias")
        out[int(key)] = value
    return out


def base_params(defaults: SamplingParams, body: _Sampling, max_tokens: int | None, top_logprobs: int,
                grammar: str | None, limits: Limits) -> SamplingParams:
    if grammar is not None and body.grammar is not None:
        raise InvalidRequestError("grammar cannot be combined with a JSON response_format", param="grammar")
    update: dict[str, Any] = {"stop": stop_strings(body.stop), "top_logprobs": top_logprobs,
                              "grammar": grammar or user_grammar(body.grammar),
                              "logit_bias": _logit_bias(body.logit_bias, limits.n_vocab)}
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed", "min_p",
                 "repeat_penalty"):
        value = getattr(body, name)
        if value is not None:
            update[name] = value
    if body.top_k is not None:
        update["top_k"] = max(body.top_k, 0)  # llama.cpp and vLLM both spell "disabled" as -1 too
    if body.repeat_last_n is not None:
        # llama.cpp allocates a ring buffer of this many tokens; more than the context means the whole context
        update["penalty_last_n"] = limits.n_ctx if body.repeat_last_n == -1 else min(body.repeat_last_n,
                                                                                      limits.n_ctx)
    if max_tokens is not None:
        update["max_tokens"] = max_tokens
    return defaults.model_copy(update=update)


def choice_params(params: SamplingParams, n: int) -> list[SamplingParams]:
    """Independent parameters per choice: with a seed, choice i samples with seed + i (reproducible)."""
    if params.seed is None or n == 1:
        return [params] * n
    return [params.model_copy(update={"seed": (params.seed + i) & 0x7FFFFFFFFFFFFFFF}) for i in range(n)]


def chat_job(body: ChatCompletionRequest, defaults: SamplingParams, limits: Limits,
             truncation: str = "disabled") -> JobSpec:
    """The job spec of a chat request (raises InvalidRequestError). Converting a JSON Schema to a grammar can take a
    while: call it off the event loop. `truncation` is the server's default for requests that do not say."""
    _reject_unsupported(body, UNSUPPORTED_CHAT)
    if body.top_logprobs and not body.logprobs:
        raise InvalidRequestError("top_logprobs requires logprobs to be true", param="top_logprobs")
    messages = [chat_message(i, m) for i, m in enumerate(body.messages)]
    check_tool_turns(messages)
    tools = tool_spec(body, messages)
    max_tokens = body.max_completion_tokens or body.max_tokens
    top = (body.top_logprobs or 0) if body.logprobs else 0
    params = base_params(defaults, body, max_tokens, top, grammar_for(body.response_format), limits)
    if tools is not None and tools.grammar is not None and params.grammar is not None:  # built here, off the loop
        raise InvalidRequestError("tools cannot be combined with response_format or grammar",
                                  param="response_format" if body.response_format else "grammar")
    # Over HTTP a conversation is never cut silently: only an explicit `auto` truncates (and the answer says so).
    policy = "truncate-oldest" if (body.truncation or truncation) == "auto" else "error"
    cancel = threading.Event()
    # A non-streamed answer is scored on its whole answer (the `complete` calibration), as the README says.
    mode = "stream" if body.stream else "complete"
    requests = [ChatRequest(messages=messages, params=p, cancel=cancel, model=body.model, context_policy=policy,
                            mode=mode, tools=tools)
                for p in choice_params(params, body.n)]
    return JobSpec(requests=requests, cancel=cancel, want_tokens=bool(body.logprobs))


def completion_job(body: CompletionRequest, defaults: SamplingParams, limits: Limits) -> JobSpec:
    """The job spec of a text completion request (raises InvalidRequestError)."""
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
    params = base_params(defaults, body, body.max_tokens, body.logprobs or 0, None, limits)
    cancel = threading.Event()
    requests, echoes = [], []
    for prompt in prompts:
        for p in choice_params(params, body.n):
            requests.append(ChatRequest(prompt=prompt, params=p, cancel=cancel, model=body.model,
                                        mode="stream" if body.stream else "complete"))
            echoes.append(prompt)
    return JobSpec(requests=requests, cancel=cancel, want_tokens=want, echo_prompts=echoes if body.echo else None)
