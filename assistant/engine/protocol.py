"""The one Engine contract every backend (llama.cpp now, TensorRT-LLM later) implements."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidRequestError
from .events import ChatMessage, EngineEvent
from .sampling import SamplingParams
from .sequence import Sequence as SeqState

Prompt = str | Sequence[ChatMessage]
"""A raw text prompt (completion, no template) or chat messages (rendered with the model's template)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; the core rejects requests a backend cannot serve before calling it."""

    logprobs: bool = True
    """Reports per-token log-probabilities (and top alternatives)."""
    grammar: bool = False
    """Constrains output with a GBNF grammar (`SamplingParams.grammar`)."""
    prefix_cache: bool = False
    """Keeps each slot's KV cache between requests and can copy a prefix between slots: the scheduler then picks
    the free slot sharing the longest prefix and shares prompt KV between sequences (else: least recently used)."""
    gpu_offload: bool = False
    """The build can offload layers to a GPU (`hearth bench` offloads only then)."""
    hidden_states: bool = False
    """Gives the last layer's hidden states of any tokens, from a context of its own on the loaded weights
    (`model_handle`, see `engine.llamacpp_embed`): the escalation's answer probe needs them."""

    def check(self, params: SamplingParams) -> None:
        """Raise InvalidRequestError, naming the parameter, for what `params` asks and the backend cannot do."""
        if params.grammar is not None and not self.grammar:
            raise InvalidRequestError("this model's backend cannot constrain output with a grammar",
                                      param="grammar")
        if params.top_logprobs and not self.logprobs:
            raise InvalidRequestError("this model's backend does not report log-probabilities",
                                      param="top_logprobs")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loaded model is."""

    id: str
    """Catalog id, or the file stem for a model given by path."""
    path: Path
    """The GGUF file."""
    architecture: str
    """GGUF `general.architecture`, e.g. `llama`."""
    n_params: int
    """Parameter count."""
    quantization: str
    """File type, e.g. `Q4_1`, `Q4_K_M`."""
    size_bytes: int
    """File size."""
    n_ctx_train: int
    """Context length the model was trained for."""
    n_ctx: int
    """Context window this engine instance was created with."""
    n_vocab: int
    """Vocabulary size."""
    has_chat_template: bool
    """Whether the GGUF carries `tokenizer.chat_template`."""
    tool_syntax: str = "generic"
    """How the chat template asks for tool calls: `generic`, `hermes` or `llama3` (`assistant.tools.formats`)."""
    chat_template: str | None = None
    """The Jinja chat template in use: `engine.chat_template_file`'s text, else the GGUF's own (None when neither
    exists and the family's built-in format is used)."""


class EngineOwner(Protocol):
    """What an engine needs of the scheduler that owns it."""

    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Submit one generation (the engine forwards its own `generate` here while owned)."""
        ...

    def stop(self, timeout: float = 10.0) -> bool:
        """End the loop and release the engine; False if it did not end in time."""
        ...


@runtime_checkable
class Engine(Protocol):
    """A loaded model with `n_slots` sequence slots sharing one KV cache.

    A `Scheduler` claims the engine and alone calls `begin`, `share`, `step` and `end`, from its loop thread;
    `generate` is then submitted to it. Unowned, `generate` steps one sequence on the caller's thread (tools and
    benchmarks). `close` stops the owner first. The read-only methods (`tokenize`, `render_chat`, `prompt_tokens`,
    `count_tokens`, `check_prompt`, `piece`) are safe from any thread at any time."""

    info: ModelInfo
    capabilities: Capabilities

    @property
    def n_slots(self) -> int:
        """Sequences that can be decoded together, each with a window of `info.n_ctx` tokens."""
        ...

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of `text`; `special` parses control tokens such as `<|im_start|>`."""
        ...

    def piece(self, token: int) -> bytes:
        """The bytes a token contributes to output text (control tokens contribute none)."""
        ...

    def render_chat(self, messages: Sequence[ChatMessage], tools: Sequence[dict] | None = None) -> str:
        """The prompt text for `messages` with the model's own chat template and a generation prompt; `tools`
        (OpenAI `tools` entries) are given to a template that knows them (`info.tool_syntax` not `generic`)."""
        ...

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """Exactly the tokens a generation processes for `prompt` (template, BOS)."""
        ...

    def count_tokens(self, prompt: Prompt) -> int:
        """`len(prompt_tokens(prompt))`."""
        ...

    def check_prompt(self, tokens: list[int]) -> None:
        """Raise InvalidRequestError (empty) or ContextOverflowError (no room left to generate)."""
        ...

    def slot_tokens(self, slot: int) -> list[int]:
        """The tokens whose KV entries `slot` holds (its prompt cache)."""
        ...

    def begin(self, slot: int, tokens: list[int], params: SamplingParams,
              started: float | None = None) -> SeqState:
        """A new sequence in `slot`, reusing the slot's cached prefix of `tokens`."""
        ...

    def share(self, source_slot: int, seq: SeqState, n: int) -> None:
        """Give `seq` the first `n` KV entries of `source_slot` instead of computing them."""
        ...

    def step(self, seqs: list[SeqState]) -> None:
        """One forward pass over `seqs`; new events land in each sequence's `events`."""
        ...

    def end(self, seq: SeqState) -> list[EngineEvent]:
        """Close `seq`: its last text and its Finish."""
        ...

    @property
    def owner(self) -> EngineOwner | None:
        """The scheduler that drives the engine, if any."""
        ...

    def claim(self, owner: EngineOwner) -> None:
        """Make `owner` the only caller of begin/share/step/end (EngineError if another has it)."""
        ...

    def release(self, owner: EngineOwner) -> None:
        """Undo `claim`."""
        ...

    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Stream events for one completion (through the owning scheduler, if any). Ends with exactly one
        `Finish` unless the consumer closes the iterator, which stops generation within one step."""
        ...

    def reset(self) -> None:
        """Forget every slot's KV cache."""
        ...

    @property
    def model_handle(self) -> Any:
        """The backend's loaded-model handle (llama.cpp: a `llama_model *`), for another context on the same
        weights (hidden states, embeddings); used only on the owning scheduler's loop thread (`Scheduler.call`)
        while the engine is open."""
        ...

    def close(self) -> None:
        """Free the model and its context."""
        ...
