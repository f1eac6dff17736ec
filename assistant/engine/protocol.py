"""The one Engine contract every backend (llama.cpp now, TensorRT-LLM later) implements."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from .events import ChatMessage, EngineEvent
from .sampling import SamplingParams

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
    """Reuses the KV cache of a shared prompt prefix across requests."""
    gpu_offload: bool = False
    """The build can offload layers to a GPU."""


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


@runtime_checkable
class Engine(Protocol):
    """A loaded model. Not thread-safe: callers serialise generations (the server's scheduler does)."""

    info: ModelInfo
    capabilities: Capabilities

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of `text`; `special` parses control tokens such as `<|im_start|>`."""
        ...

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text for `messages` with the model's own chat template and a generation prompt."""
        ...

    def count_tokens(self, prompt: Prompt) -> int:
        """Exact number of prompt tokens `generate` would process for `prompt`."""
        ...

    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Stream events for one completion. Ends with exactly one `Finish` unless the consumer closes the
        iterator, which stops generation before the next token is decoded."""
        ...

    def close(self) -> None:
        """Free the model and its context."""
        ...
