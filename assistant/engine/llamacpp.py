"""The llama.cpp backend, on llama-cpp-python's low-level API.

A hand-written batched decode rather than `Llama.create_completion`: `n_seq` sequences (slots) share one context
and one forward pass per step (`begin` / `step` / `end`, driven by `assistant.scheduler`), each with its own C
sampler chain; log-probabilities come from each sequence's own logits row (no `logits_all`); every slot keeps the
KV cache of its last request and reuses the longest common prefix with the next one.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as L

from ..errors import ContextOverflowError, EngineError, InvalidRequestError
from ..gguf_meta import GGUFMeta, read_gguf
from ..tools.formats import call_format
from .chat_template import ChatTemplate, fallback_template
from .events import ChatMessage, EngineEvent, Finish, TextDelta, Timings, Usage
from .llamacpp_batch import Batch, advance, fill, token_event
from .llamacpp_load import init_backend, load_model
from .llamacpp_sampler import build_sampler
from .protocol import Capabilities, EngineOwner, ModelInfo, Prompt
from .sampling import SamplingParams
from .sequence import Sequence, common_prefix
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
    n_seq: int = 1
    """Slots: sequences decoded together, each with a window of `n_ctx` tokens (KV cells: n_ctx * n_seq)."""
    chat_template: str | None = None
    """A Jinja chat template used instead of the GGUF's own (None: the GGUF's, or its family's fallback)."""


class LlamaCppEngine:
    """A GGUF model loaded in llama.cpp: one context whose KV cache holds `n_slots` sequences."""

    capabilities = Capabilities(logprobs=True, grammar=True, prefix_cache=True, hidden_states=True,
                                gpu_offload=bool(L.llama_supports_gpu_offload()))

    def __init__(self, path: Path, config: LoadConfig, model_id: str | None = None,
                 meta: GGUFMeta | None = None) -> None:
        self._meta = meta or read_gguf(Path(path))  # validates before llama.cpp touches the file
        init_backend()
        self._model = self._ctx = None
        self._owner: EngineOwner | None = None
        self._load(Path(path), config)
        self._vocab = L.llama_model_get_vocab(self._model)
        self._n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self._pieces: dict[int, bytes] = {}
        self._add_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        self._bos_text = self._token_text(L.llama_vocab_bos(self._vocab))
        template = config.chat_template or self._meta.chat_template
        self._template = ChatTemplate(template or fallback_template(self._meta.architecture),
                                      bos_token=self._bos_text,
                                      eos_token=self._token_text(L.llama_vocab_eos(self._vocab)))
        # A tool-call token (Mistral's control token `[TOOL_CALLS]`) is written into the text, as llama.cpp's server
        # keeps its `preserved_tokens`: the call parser finds calls by it.
        self._preserved = frozenset(ids[0] for text in call_format(self._template.tool_syntax).markers
                                    if len(ids := self.tokenize(text, special=True)) == 1)
        self.config = config
        self.info = ModelInfo(
            id=model_id or Path(path).stem, path=Path(path), architecture=self._meta.architecture,
            n_params=int(L.llama_model_n_params(self._model)), quantization=self._meta.quantization,
            size_bytes=self._meta.size_bytes, n_ctx_train=int(L.llama_model_n_ctx_train(self._model)),
            n_ctx=config.n_ctx, n_vocab=self._n_vocab,
            has_chat_template=template is not None, tool_syntax=self._template.tool_syntax,
            chat_template=template)

    # -- loading ------------------------------------------------------------------------------------------------
    def _load(self, path: Path, config: LoadConfig) -> None:
        if config.kv_type not in _KV_TYPES:
            raise InvalidRequestError(f"unknown KV cache type {config.kv_type!r}", param="kv_type")
        self._model = load_model(path, config.n_gpu_layers)
        cparams = L.llama_context_default_params()
        # Every slot may fill a whole window. One unified KV buffer lets slots share a prompt's cells
        # (`share`); split buffers cannot copy part of a sequence across streams.
        cparams.n_ctx = config.n_ctx * config.n_seq
        cparams.n_batch = cparams.n_ubatch = min(config.n_batch, config.n_ctx)
        cparams.n_seq_max = config.n_seq
        cparams.kv_unified = True
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
        self._batch = Batch(cparams.n_batch)
        self._slot_cache: list[list[int]] = [[] for _ in range(config.n_seq)]

    def reset(self) -> None:
        """Forget the KV cache of every slot (the next request processes its whole prompt)."""
        L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
        for cached in self._slot_cache:
            cached.clear()

    def close(self) -> None:
        """Stop the owning scheduler, then free the context and the model (left allocated if the scheduler's
        loop does not stop: freeing memory under a running decode would crash the process)."""
        if self._owner is not None and not self._owner.stop():
            log.warning("the scheduler did not stop; the model stays loaded")
            return
        self._batch.free()
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
        """The bytes a token contributes to output text (control tokens contribute none, except the tool-call
        tokens of the template's call format)."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self._token_bytes(token, special=token in self._preserved)
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

    def render_chat(self, messages: Seq[ChatMessage], tools: Seq[dict] | None = None) -> str:
        return self._template.render(messages, add_generation_prompt=True, tools=tools)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """Exactly the tokens `generate` will process for `prompt`."""
        text = prompt if isinstance(prompt, str) else self.render_chat(prompt)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self.tokenize(text, special=True, add_bos=add_bos)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.prompt_tokens(prompt))

    # -- sequences (driven by the scheduler) --------------------------------------------------------------------
    @property
    def n_slots(self) -> int:
        """Sequences that can be decoded together (each with up to `info.n_ctx` tokens of KV cache)."""
        return self.config.n_seq

    def slot_tokens(self, slot: int) -> list[int]:
        """The tokens whose KV entries slot `slot` holds, in order (its prompt cache). Do not modify."""
        return self._slot_cache[slot]

    def check_prompt(self, tokens: list[int]) -> None:
        """Raise InvalidRequestError for an empty prompt, ContextOverflowError for one the window cannot hold."""
        n_ctx = self.info.n_ctx
        if not tokens:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        if len(tokens) >= n_ctx:
            raise ContextOverflowError(f"the prompt has {len(tokens)} tokens; the context window is {n_ctx}",
                                       prompt_tokens=len(tokens), limit=n_ctx)

    def begin(self, slot: int, tokens: list[int], params: SamplingParams, started: float | None = None) -> Sequence:
        """A sequence for `tokens` in `slot`, reusing the slot's cached KV for their longest common prefix.

        Raises InvalidRequestError (bad grammar or sampler settings) before touching the cache."""
        self.check_prompt(tokens)
        sampler = build_sampler(params, self._vocab, self._n_vocab)
        common = min(common_prefix(self._slot_cache[slot], tokens), len(tokens) - 1)
        common = self._truncate_slot(slot, common)
        room = self.info.n_ctx - len(tokens)
        seq = Sequence(slot=slot, prompt=tokens, params=params, sampler=sampler, stream=TextStream(params.stop),
                       limit=min(params.max_tokens or room, room), n_past=common, cached=common)
        if started is not None:
            seq.started = started
        return seq

    def share(self, source_slot: int, seq: Sequence, n: int) -> None:
        """Give `seq` the first `n` KV entries of `source_slot` (a prompt prefix both share) without recomputing
        them: `llama_memory_seq_cp`, which in a unified KV cache only tags the cells with a second sequence id."""
        mem = L.llama_get_memory(self._ctx)
        L.llama_memory_seq_rm(mem, seq.slot, -1, -1)
        L.llama_memory_seq_cp(mem, source_slot, seq.slot, 0, n)
        self._slot_cache[seq.slot] = list(self._slot_cache[source_slot][:n])
        seq.n_past = seq.cached = n

    def step(self, seqs: list[Sequence]) -> None:
        """One forward pass over `seqs` (see `llamacpp_batch.fill`); each sequence's new events land in its
        `events`, and `done` is set on those that finished. Raises EngineError if llama.cpp fails (the whole KV
        cache is then dropped: every sequence in flight must be ended)."""
        rows = fill(self._batch, seqs, self._slot_cache)
        if self._batch.n == 0:
            return
        rc = L.llama_decode(self._ctx, self._batch.seal())
        if rc != 0:
            self.reset()
            raise EngineError(f"llama_decode failed with status {rc}")
        now = time.perf_counter()
        for seq, index in rows:
            if seq.prefilled is None:
                seq.prefilled = now
            token = seq.sampler.sample(self._ctx, index)
            event = token_event(L.llama_get_logits_ith(self._ctx, index), self._n_vocab, token,
                                seq.params.top_logprobs, self.piece)
            advance(seq, event, bool(L.llama_vocab_is_eog(self._vocab, token)), now)

    def end(self, seq: Sequence) -> list[EngineEvent]:
        """Close `seq` (as `cancelled` unless it finished): its held-back text and its Finish. Frees the sampler;
        the slot's KV cache stays for the next request's prefix."""
        if seq.sampler is not None:
            seq.sampler.free()
            seq.sampler = None
        seq.done = seq.done or "cancelled"
        out = seq.take_events()
        if tail := seq.stream.flush():
            out.append(TextDelta(tail))
        now = time.perf_counter()
        prefilled = seq.prefilled or now
        first = seq.first or prefilled
        timings = Timings(prefill_s=prefilled - seq.started, ttft_s=first - seq.started, decode_s=now - first)
        out.append(Finish(reason=seq.done, usage=Usage(len(seq.prompt), seq.n_out, seq.cached), timings=timings,
                          stop_string=seq.stream.stopped))
        return out

    def _truncate_slot(self, slot: int, keep: int) -> int:
        """Drop the slot's KV entries from position `keep` on; returns how many remain."""
        mem = L.llama_get_memory(self._ctx)
        if not L.llama_memory_seq_rm(mem, slot, keep, -1):
            L.llama_memory_seq_rm(mem, slot, -1, -1)
            keep = 0
        del self._slot_cache[slot][keep:]
        return keep

    @property
    def model_handle(self):
        """The `llama_model *` this engine loaded, for another context on the same weights (e.g. the hidden-state
        context of `llamacpp_embed`); valid until `close`."""
        return self._model

    # -- ownership and the single-sequence convenience ----------------------------------------------------------
    @property
    def owner(self) -> EngineOwner | None:
        """The scheduler that drives this engine, if any."""
        return self._owner

    def claim(self, owner: EngineOwner) -> None:
        """Make `owner` (a scheduler) the only caller of `begin/share/step/end`; EngineError if another has it."""
        if self._owner is not None and self._owner is not owner:
            raise EngineError("this engine is already owned by a scheduler")
        self._owner = owner

    def release(self, owner: EngineOwner) -> None:
        if self._owner is owner:
            self._owner = None

    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """One sequence. While a scheduler owns the engine it is submitted there (batched with the rest);
        otherwise it runs in slot 0, stepped on the caller's thread (tools and benchmarks that own the engine)."""
        if self._owner is not None:
            return self._owner.generate(prompt, params, cancel=cancel)
        return self._generate_here(self.prompt_tokens(prompt), params, cancel)

    def _generate_here(self, tokens: list[int], params: SamplingParams,
                       cancel: threading.Event | None) -> Iterator[EngineEvent]:
        seq = self.begin(0, tokens, params)
        try:
            while seq.done is None and not (cancel is not None and cancel.is_set()):
                self.step([seq])
                yield from seq.take_events()
        finally:
            tail = self.end(seq)  # also when the consumer closes the stream: frees the sampler now
        yield from tail
