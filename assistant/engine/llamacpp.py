"""The llama.cpp backend, on llama-cpp-python's low-level API.

A hand-written decode loop rather than `Llama.create_completion`: it decodes one token per step with the C sampler
chain, reads log-probabilities from the last position's logits (no `logits_all`), keeps the KV cache of the previous
request and reuses its longest common prefix.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as L
import numpy as np

from ..errors import ContextOverflowError, EngineError, InvalidRequestError
from ..gguf_meta import GGUFMeta, read_gguf
from .chat_template import CHATML, ChatTemplate
from .events import (
    ChatMessage,
    EngineEvent,
    Finish,
    FinishReason,
    TextDelta,
    Timings,
    TokenEvent,
    TopLogprob,
    Usage,
)
from .llamacpp_sampler import build_sampler
from .logprobs import logsumexp_and_entropy, top_alternatives
from .protocol import Capabilities, ModelInfo, Prompt
from .sampling import SamplingParams
from .textstream import TextStream

log = logging.getLogger("hearth.llamacpp")
_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # ggml_type ids
_FLASH = {True: L.LLAMA_FLASH_ATTN_TYPE_ENABLED, False: L.LLAMA_FLASH_ATTN_TYPE_DISABLED,
          "auto": L.LLAMA_FLASH_ATTN_TYPE_AUTO}


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Concrete load-time settings (every `auto` already resolved)."""

    n_ctx: int
    """Context window."""
    n_threads: int
    """Decode threads."""
    n_batch: int = 512
    """Prompt tokens per forward pass."""
    n_gpu_layers: int = 0
    """Layers offloaded to a GPU."""
    kv_type: str = "f16"
    """KV cache element type: f16, q8_0 or q4_0."""
    flash_attn: bool | str = "auto"
    """True, False or "auto"."""


@L.llama_log_callback
def _llama_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    # llama.cpp prints load chatter to stderr by default; route it to logging so the CLI stays clean.
    if log.isEnabledFor(logging.DEBUG) and text:
        log.debug(text.decode("utf-8", errors="replace").rstrip())


_BACKEND = {"ready": False}


def _init_backend() -> None:
    if not _BACKEND["ready"]:
        L.llama_log_set(_llama_log, ctypes.c_void_p(0))
        L.llama_backend_init()
        _BACKEND["ready"] = True


class LlamaCppEngine:
    """A GGUF model loaded in llama.cpp, with one context (one generation at a time)."""

    capabilities = Capabilities(logprobs=True, grammar=True, prefix_cache=True,
                                gpu_offload=bool(L.llama_supports_gpu_offload()))

    def __init__(self, path: Path, config: LoadConfig, model_id: str | None = None,
                 meta: GGUFMeta | None = None) -> None:
        self._meta = meta or read_gguf(Path(path))  # validates before llama.cpp touches the file
        _init_backend()
        self._model = self._ctx = self._batch_tokens = None
        self._load(Path(path), config)
        self._vocab = L.llama_model_get_vocab(self._model)
        self._n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self._pieces: dict[int, bytes] = {}
        self._cached: list[int] = []  # tokens whose KV entries are in the context, in order
        self._busy = threading.Lock()
        self._add_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        self._bos_text = self._token_text(L.llama_vocab_bos(self._vocab))
        self._template = ChatTemplate(self._meta.chat_template or CHATML, bos_token=self._bos_text,
                                      eos_token=self._token_text(L.llama_vocab_eos(self._vocab)))
        self.config = config
        self.info = ModelInfo(
            id=model_id or Path(path).stem, path=Path(path), architecture=self._meta.architecture,
            n_params=int(L.llama_model_n_params(self._model)), quantization=self._meta.quantization,
            size_bytes=self._meta.size_bytes, n_ctx_train=int(L.llama_model_n_ctx_train(self._model)),
            n_ctx=int(L.llama_n_ctx(self._ctx)), n_vocab=self._n_vocab,
            has_chat_template=self._meta.chat_template is not None)

    # -- loading ------------------------------------------------------------------------------------------------
    def _load(self, path: Path, config: LoadConfig) -> None:
        if config.kv_type not in _KV_TYPES:
            raise InvalidRequestError(f"unknown KV cache type {config.kv_type!r}", param="kv_type")
        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = config.n_gpu_layers
        # The "extra" CPU buffer types route matmuls to AMX kernels on CPUs that have AMX; in the llama.cpp that
        # llama-cpp-python 0.3.36 vendors they segfault on the first batch (seen on this project's Xeon hosts).
        # Q4_1/Q4_K weights gain nothing from them on AVX-512, so they stay off.
        mparams.use_extra_bufts = False
        self._model = L.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise EngineError(f"llama.cpp could not load {path} (unsupported architecture or damaged file)")
        cparams = L.llama_context_default_params()
        cparams.n_ctx = config.n_ctx
        cparams.n_batch = cparams.n_ubatch = min(config.n_batch, config.n_ctx)
        cparams.n_seq_max = 1
        cparams.n_threads = cparams.n_threads_batch = config.n_threads
        cparams.type_k = cparams.type_v = _KV_TYPES[config.kv_type]
        cparams.flash_attn_type = _FLASH[config.flash_attn]
        cparams.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            L.llama_model_free(self._model)
            self._model = None
            raise EngineError(f"llama.cpp could not create a context of {config.n_ctx} tokens "
                              f"(KV type {config.kv_type}; quantized KV needs flash attention)")
        self._n_batch = cparams.n_batch
        self._batch_tokens = (L.llama_token * self._n_batch)()

    def reset(self) -> None:
        """Forget the KV cache (the next request processes its whole prompt)."""
        L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
        self._cached = []

    def close(self) -> None:
        if self._ctx:
            L.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            L.llama_model_free(self._model)
            self._model = None

    # -- text <-> tokens ----------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = True, add_bos: bool = False) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_bos, special)
        if n < 0:
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_bos, special)
        if n < 0:
            raise EngineError(f"tokenization failed ({n})")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token contributes to output text (control tokens contribute none)."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self._token_bytes(token, special=False)
        return cached

    def _token_bytes(self, token: int, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(128)
        n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:max(n, 0)]

    def _token_text(self, token: int) -> str:
        return self._token_bytes(token, special=True).decode("utf-8", errors="replace") if token >= 0 else ""

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        return self._template.render(messages, add_generation_prompt=True)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """Exactly the tokens `generate` will process for `prompt`."""
        text = prompt if isinstance(prompt, str) else self.render_chat(prompt)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self.tokenize(text, special=True, add_bos=add_bos)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.prompt_tokens(prompt))

    # -- generation ---------------------------------------------------------------------------------------------
    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        tokens = self.prompt_tokens(prompt)
        n_ctx = self.info.n_ctx
        if not tokens:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        if len(tokens) >= n_ctx:
            raise ContextOverflowError(f"the prompt has {len(tokens)} tokens; the context window is {n_ctx}",
                                       prompt_tokens=len(tokens), limit=n_ctx)
        if not self._busy.acquire(blocking=False):
            raise EngineError("the engine is already generating; requests must be serialised")
        try:
            yield from self._generate(tokens, params, cancel)
        finally:
            self._busy.release()

    def _generate(self, tokens: list[int], params: SamplingParams,
                  cancel: threading.Event | None) -> Iterator[EngineEvent]:
        start = time.perf_counter()
        room = self.info.n_ctx - len(tokens)
        limit = min(params.max_tokens or room, room)
        cached = self._prefill(tokens)
        prefilled = time.perf_counter()
        sampler = build_sampler(params, self._vocab, self._n_vocab)
        stream = TextStream(params.stop)
        first = prefilled
        n_out, reason = 0, "length"
        try:
            while True:
                token = L.llama_sampler_sample(sampler, self._ctx, -1)
                n_out += 1
                if n_out == 1:
                    first = time.perf_counter()
                event = self._token_event(token, params.top_logprobs)
                if L.llama_vocab_is_eog(self._vocab, token):
                    reason = "stop"
                    break
                yield event
                text = stream.push(event.piece)
                if text:
                    yield TextDelta(text)
                if stream.stopped is not None:
                    reason = "stop"
                    break
                if n_out >= limit:
                    break
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                self._decode([token])
        finally:
            L.llama_sampler_free(sampler)
        if tail := stream.flush():
            yield TextDelta(tail)
        yield self._finish(reason, len(tokens), n_out, cached, (start, prefilled, first), stream.stopped)

    def _finish(self, reason: FinishReason, n_prompt: int, n_out: int, cached: int,
                marks: tuple[float, float, float], stop: str | None) -> Finish:
        start, prefilled, first = marks
        now = time.perf_counter()
        timings = Timings(prefill_s=prefilled - start, ttft_s=first - start, decode_s=now - first)
        return Finish(reason=reason, usage=Usage(n_prompt, n_out, cached), timings=timings, stop_string=stop)

    def _token_event(self, token: int, n_top: int) -> TokenEvent:
        ptr = L.llama_get_logits_ith(self._ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        lse, entropy = logsumexp_and_entropy(logits)
        top = tuple(TopLogprob(i, self.piece(i), lp) for i, lp in top_alternatives(logits, lse, n_top))
        return TokenEvent(token_id=token, piece=self.piece(token), logprob=float(logits[token]) - lse, top=top,
                          entropy=entropy)

    def _prefill(self, tokens: list[int]) -> int:
        """Make the KV cache hold `tokens[:-1]` plus logits for the last one; returns how many were reused."""
        common = 0
        for a, b in zip(self._cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # the last prompt token must be decoded to get its logits
        mem = L.llama_get_memory(self._ctx)
        if not L.llama_memory_seq_rm(mem, 0, common, -1):
            L.llama_memory_clear(mem, True)
            common = 0
        self._cached = self._cached[:common]
        for i in range(common, len(tokens), self._n_batch):
            self._decode(tokens[i:i + self._n_batch])
        return common

    def _decode(self, chunk: list[int]) -> None:
        n = len(chunk)
        buf = self._batch_tokens
        buf[:n] = chunk
        rc = L.llama_decode(self._ctx, L.llama_batch_get_one(buf, n))
        if rc != 0:
            # The cache may hold part of the chunk now; forget it all rather than trust it.
            L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
            self._cached = []
            raise EngineError(f"llama_decode failed with status {rc}")
        self._cached.extend(chunk)
