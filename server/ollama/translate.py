"""Ollama request bodies -> the same `JobSpec` the OpenAI endpoints run (one choice, one `ChatRequest`).

`options`, by name (the README's table says the same):
- honoured: `temperature`, `top_p`, `top_k`, `min_p`, `repeat_penalty`, `repeat_last_n` (-> `penalty_last_n`;
  -1 = the context window), `presence_penalty`, `frequency_penalty`, `seed` (negative = random),
  `num_predict` (-> `max_tokens`; -1/-2 = until the context is full), `stop`;
- `typical_p`: only 1.0 (off); other values get a 400;
- accepted and ignored, fixed when the server loads the model: `num_ctx` and the other load-time options
  (`LOAD_TIME_OPTIONS`);
- every other name is ignored, as Ollama itself does (`mirostat`, `tfs_z` and `penalize_newline` are gone from
  Ollama too).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage, ToolCall
from assistant.engine.sampling import SamplingParams
from assistant.errors import InvalidRequestError

from ..grammar import schema_grammar
from ..tools_in import offered
from ..translate import JobSpec, stop_strings
from .schemas import ChatBody, GenerateBody, GenerationBody, Options

log = logging.getLogger("hearth.server")

LOAD_TIME_OPTIONS = ("num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "numa", "low_vram", "f16_kv",
                     "use_mmap", "use_mlock", "vocab_only", "logits_all", "embedding_only", "num_keep",
                     "draft_num_predict")
"""Options that set how a model is loaded (Ollama's `Runner` options): fixed by `hearth serve` here."""
_DIRECT = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty")
_ROLES = ("system", "user", "assistant", "tool")


def model_name(name: str) -> str:
    """The Hearth name of an Ollama model name: Ollama's default tag `:latest` is implied."""
    return name.removesuffix(":latest")


def sampling(defaults: SamplingParams, options: Options | None, n_ctx: int) -> SamplingParams:
    """`defaults` with what `options` sets (see the module docstring); InvalidRequestError names a bad option."""
    if options is None:
        return defaults
    update: dict[str, Any] = {name: getattr(options, name) for name in _DIRECT if getattr(options, name) is not None}
    if options.typical_p is not None and options.typical_p != 1.0:
        raise InvalidRequestError("options.typical_p is not supported (only 1.0, which disables it)",
                                  param="options.typical_p")
    if options.repeat_last_n is not None:
        update["penalty_last_n"] = n_ctx if options.repeat_last_n == -1 else options.repeat_last_n
    if options.seed is not None:
        update["seed"] = options.seed if options.seed >= 0 else None
    if options.num_predict is not None:
        if options.num_predict in (-1, -2):
            update["max_tokens"] = None
        elif options.num_predict >= 1:
            update["max_tokens"] = options.num_predict
        else:
            raise InvalidRequestError("options.num_predict must be a positive number of tokens, or -1 (until the "
                                      "context is full)", param="options.num_predict")
    if options.stop is not None:
        update["stop"] = stop_strings(options.stop)
    if options.num_ctx is not None and options.num_ctx != n_ctx:
        log.debug("options.num_ctx %d ignored: the context window was fixed at load (%d)", options.num_ctx, n_ctx)
    return defaults.model_copy(update=update)


def grammar(fmt: str | dict[str, Any] | None) -> str | None:
    """The output grammar for `format`: `json` is any JSON object, a dict is a JSON Schema."""
    if not fmt:
        return None
    return schema_grammar(None if fmt == "json" else fmt, "format")  # type: ignore[arg-type]


def _refuse(body: GenerationBody, names: tuple[str, ...], why: str) -> None:
    for name in names:
        value = getattr(body, name, None)
        if value not in (None, False, [], ""):
            raise InvalidRequestError(f"'{name}' is not supported: {why}", param=name)


def _check_common(body: GenerationBody) -> None:
    if body.think not in (None, False):
        raise InvalidRequestError(f"'{body.model}' does not support thinking", param="think")
    _refuse(body, ("logprobs", "top_logprobs"), "use /v1/chat/completions for log-probabilities")


def _messages(body: ChatBody) -> list[ChatMessage]:
    """The conversation for the core. Ollama's calls carry no ids: each gets `call_<message>_<call>`, and a `tool`
    message answers the earlier call of its `tool_name`, else the oldest call not yet answered."""
    out: list[ChatMessage] = []
    unanswered: list[ToolCall] = []
    for i, msg in enumerate(body.messages):
        if msg.images:
            raise InvalidRequestError(f"messages[{i}].images: images are not supported, the loaded model reads "
                                      "text only", param=f"messages[{i}].images")
        if msg.role not in _ROLES:
            raise InvalidRequestError(f"messages[{i}]: role '{msg.role}' is not supported",
                                      param=f"messages[{i}].role")
        if msg.tool_calls and msg.role != "assistant":
            raise InvalidRequestError(f"messages[{i}].tool_calls: only assistant messages carry tool calls",
                                      param=f"messages[{i}].tool_calls")
        calls = tuple(ToolCall(id=f"call_{i}_{j}", name=c.function.name, index=j,
                               arguments=json.dumps(c.function.arguments, ensure_ascii=False))
                      for j, c in enumerate(msg.tool_calls or ()))
        unanswered.extend(calls)
        answers = None
        if msg.role == "tool":
            answers = next((c for c in unanswered if msg.tool_name in (None, c.name)), None)
            if answers is not None:
                unanswered.remove(answers)
        out.append(ChatMessage(role=msg.role, content=msg.content or "", tool_calls=calls,
                               tool_call_id=answers.id if answers else None))
    return out


def _spec(request_kwargs: dict[str, Any], params: SamplingParams, model: str, streamed: bool) -> JobSpec:
    cancel = threading.Event()
    # A non-streamed answer is scored on the whole answer (the `complete` calibration), as on /v1.
    request = ChatRequest(params=params, cancel=cancel, model=model, mode="stream" if streamed else "complete",
                          **request_kwargs)
    return JobSpec(requests=[request], cancel=cancel, want_tokens=False)


def chat_job(body: ChatBody, defaults: SamplingParams, n_ctx: int) -> JobSpec:
    """The job spec of a non-empty `/api/chat` request. With `tools` the model answers in text or with calls whose
    arguments a grammar keeps valid against each tool's schema (tool_choice `auto`; Ollama has no other). Converting
    schemas to grammars takes a while: call it off the event loop."""
    _check_common(body)
    messages = _messages(body)
    tools = offered(body.tools or None, messages)
    params = sampling(defaults, body.options, n_ctx).model_copy(update={"grammar": grammar(body.format)})
    if tools is not None and tools.grammar is not None and params.grammar is not None:
        raise InvalidRequestError("tools cannot be combined with format", param="format")
    return _spec({"messages": messages, "tools": tools}, params, model_name(body.model), body.stream)


def generate_job(body: GenerateBody, defaults: SamplingParams, n_ctx: int) -> JobSpec:
    """The job spec of a non-empty `/api/generate` request: the prompt as one user turn (after `system`), or as is
    with `raw`."""
    _check_common(body)
    if body.images:
        raise InvalidRequestError("images are not supported: the loaded model reads text only", param="images")
    _refuse(body, ("suffix",), "fill-in-the-middle is not available")
    _refuse(body, ("template",), "the model's own chat template is used")
    _refuse(body, ("context",), "send the conversation to /api/chat instead")
    _refuse(body, ("width", "height", "steps"), "image generation is not available")
    params = sampling(defaults, body.options, n_ctx).model_copy(update={"grammar": grammar(body.format)})
    if body.raw:
        if body.system:
            raise InvalidRequestError("'system' cannot be used with raw prompts", param="system")
        return _spec({"prompt": body.prompt}, params, model_name(body.model), body.stream)
    messages = ([ChatMessage("system", body.system)] if body.system else []) + [ChatMessage("user", body.prompt)]
    return _spec({"messages": messages}, params, model_name(body.model), body.stream)
