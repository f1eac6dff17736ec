"""Render a model's own chat template (GGUF `tokenizer.chat_template`) as transformers does."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import InvalidRequestError, ModelFormatError
from .events import ChatMessage


def _raise(message: str) -> None:
    raise InvalidRequestError(f"the model's chat template rejected the messages: {message}", param="messages")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template with the special tokens it refers to."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        # Sandboxed: templates come from model files, which are data, not trusted code.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=["jinja2.ext.loopcontrols"])
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise ModelFormatError(f"the model's chat template does not compile: {exc}") from None
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token

    @property
    def knows_tools(self) -> bool:
        """Whether the template reads `tools` (Qwen2.5, Llama 3.1, Mistral v0.3 do; SmolLM2's does not)."""
        return "tools" in self.source

    @property
    def tool_syntax(self) -> str:
        """How this template asks the model to write calls (`assistant.tools.formats`): `hermes` where it asks for
        `<tool_call>` tags around a JSON `{"name": ...}` object (Qwen2.5, Hermes), `llama3` where it asks for
        `"parameters"` objects from an `ipython` environment (Llama 3.1-3.3), else `generic` (templates without
        tools, and syntaxes not parsed here: the XML bodies of Qwen3-Coder's or GLM-4.5's `<tool_call>`). `mistral`
        where it writes calls as a JSON array after `[TOOL_CALLS]` (Mistral 7B v0.3, Nemo; not Small 3.2's
        `[TOOL_CALLS]name[ARGS]`)."""
        if not self.knows_tools:
            return "generic"
        if _HERMES_CALL.search(self.source):
            return "hermes"
        if _MISTRAL_CALLS.search(self.source):
            return "mistral"
        if "ipython" in self.source and '"parameters": ' in self.source:
            return "llama3"
        return "generic"

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True,
               tools: Sequence[dict[str, Any]] | None = None) -> str:
        """The prompt text. `tools` (OpenAI's `tools` entries) reach the template as transformers'
        `apply_chat_template(tools=...)` passes them; messages carry `tool_calls` (arguments as objects, as
        transformers documents) and `tool_call_id` when they have them."""
        extra = {"tools": list(tools)} if tools else {}
        try:
            return self._template.render(
                messages=[_message_dict(m) for m in messages], add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token, eos_token=self.eos_token, **extra)
        except jinja2.TemplateError as exc:
            raise InvalidRequestError(f"the model's chat template failed: {exc}", param="messages") from None


# `<tool_call>`, then (across the template's own quoting, `\n` escapes and Jinja delimiters) a JSON object that
# begins with its "name" key: Qwen2.5's `<tool_call>\\n{"name": "' }}`, Hermes 3's `<tool_call>\n" }}\n{{- '{"name"`.
_MISTRAL_CALLS = re.compile(r"\[TOOL_CALLS\] ?\[(?!ARGS)")
_HERMES_CALL = re.compile(r'<tool_call>(?:\\n|[\s"\'{}%+-]){0,40}?\{\\?"name\\?"')


def _message_dict(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": json.loads(c.arguments)}}
                             for c in m.tool_calls]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _tojson(value: object, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


# ChatML, for GGUF files that carry no template of their own (and no known family's format, below).
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# Gemma's turn format (ai.google.dev/gemma/docs/core/prompt-structure): `user` and `model` turns only, a system
# message goes at the start of the first user turn, and roles must alternate.
GEMMA = ("{{ bos_token }}{% if messages and messages[0]['role'] == 'system' %}"
         "{% set prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
         "{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
         "{% for m in turns %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         "{{ raise_exception('roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\n' "
         "+ (prefix if loop.first else '') + m['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")

_FAMILY_TEMPLATES = {"gemma": GEMMA, "gemma2": GEMMA, "gemma3": GEMMA, "gemma3n": GEMMA}


def fallback_template(architecture: str) -> str:
    """The template for a GGUF without `tokenizer.chat_template`: its family's format where the family has one
    that is not ChatML (a Gemma file rendered as ChatML answers with `<|im_end|>` as text), else ChatML."""
    return _FAMILY_TEMPLATES.get(architecture, CHATML)
