"""Pooled embeddings of a loaded llama.cpp model, from a context of their own beside the engine's.

The context is created with `embeddings=True` and `pooling_type=NONE`: every decoded token's output is the last
layer's hidden state after the model's output norm (the tensor llama.cpp itself pools, `result_norm`), and Hearth
pools it here, chunk by chunk, so one input may be decoded in several short calls between the scheduler's steps,
and several short inputs share one batch as separate sequences of a unified KV cache. Pooling in pieces is exact
for the causal decoders Hearth serves (a token's state depends only on the tokens before it, which the context's KV
cache holds).

Why chunks of `CHUNK` tokens: llama.cpp (the version llama-cpp-python 0.3.36 vendors) reserves an output buffer of
`n_vocab` logits for every output token, even in an embeddings context; 128 tokens of a 49k-token vocabulary cost
25 MB, where one decode of a whole 4k-token input would cost 800 MB.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Literal

import llama_cpp as L
import numpy as np

from ..errors import ContextOverflowError, EngineError, InvalidRequestError

CHUNK = 128
SEQS = 32  # short inputs decoded together in one batch, each its own sequence
Pooling = Literal["mean", "cls", "last"]
# llama.cpp's `enum llama_pooling_type` (include/llama.h), as stored under `<arch>.pooling_type` in GGUF.
_POOLING_TYPES: dict[int, str] = {0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}


def _meta(model, key: str) -> str | None:
    buf = ctypes.create_string_buffer(256)
    n = L.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", errors="replace") if n >= 0 else None


def embedding_size(model) -> int:
    """Values in each of `model`'s embeddings (`n_embd`)."""
    return int(L.llama_model_n_embd(model))


def model_pooling(model) -> Pooling:
    """The pooling `model` (a `llama_model_p`) declares in its GGUF metadata (`<arch>.pooling_type`), as
    llama.cpp's server uses it; `mean` when it declares none (generative models).

    Raises InvalidRequestError for a reranker (`rank` pooling scores pairs; it does not embed)."""
    arch = _meta(model, "general.architecture")
    value = _meta(model, f"{arch}.pooling_type") if arch else None
    declared = _POOLING_TYPES.get(int(value), "none") if value and value.lstrip("-").isdigit() else "none"
    if declared == "rank":
        raise InvalidRequestError("the loaded model is a reranker (rank pooling); it does not produce embeddings",
                                  param="model")
    return "mean" if declared == "none" else declared  # type: ignore[return-value]


class PooledStates:
    """An embeddings context of `n_ctx` tokens over `model`. `run` decodes one batch of pieces of inputs (at most
    `CHUNK` tokens, at most `SEQS` pieces, each its own sequence) and returns the pooled state of every input the
    batch completes. Not thread-safe: the caller runs every method on one thread at a time (the scheduler's loop
    thread). Costs one KV cache of `n_ctx` tokens and a `CHUNK`-token output buffer."""

    def __init__(self, model, n_ctx: int, n_threads: int, pooling: Pooling = "mean") -> None:
        if not model:
            raise EngineError("no model is loaded")
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = min(CHUNK, n_ctx)
        cparams.n_seq_max = SEQS
        cparams.kv_unified = True  # the sequences share the n_ctx cells (one long input may use them all)
        cparams.n_threads = cparams.n_threads_batch = n_threads
        cparams.embeddings = True
        cparams.pooling_type = L.LLAMA_POOLING_TYPE_NONE  # per-token states; pooled here
        cparams.no_perf = True
        self._ctx = L.llama_init_from_model(model, cparams)
        if not self._ctx:
            raise EngineError(f"llama.cpp could not create an embeddings context of {n_ctx} tokens")
        self.n_ctx = n_ctx
        self.n_embd = embedding_size(model)
        self.pooling = pooling
        self._batch = L.llama_batch_init(cparams.n_batch, 0, 1)
        self._n = [0] * SEQS  # tokens fed per sequence
        self._acc = np.zeros((SEQS, self.n_embd), dtype=np.float64)

    def reset(self) -> None:
        """Forget every input fed so far."""
        self._require_open()
        L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
        self._n = [0] * SEQS
        self._acc[:] = 0.0

    def run(self, pieces: Sequence[tuple[Sequence[int], bool, bool]]) -> list[np.ndarray | None]:
        """Decode `pieces`, each `(tokens, first, last)`: the next tokens of one input, in sequence k for the k-th
        piece (an input continued from the previous `run` must be its first piece there too). `first` starts the
        input afresh; `last` ends it. Returns, per piece, the input's pooled state (float32, `n_embd`, not
        normalised) when `last`, else None.

        Raises ContextOverflowError when an input passes `n_ctx` tokens, EngineError if llama.cpp fails."""
        self._require_open()
        n_tokens = sum(len(tokens) for tokens, _, _ in pieces)
        if not 0 < len(pieces) <= SEQS or not 0 < n_tokens <= CHUNK or not all(t for t, _, _ in pieces):
            raise ValueError(f"run takes 1 to {SEQS} non-empty pieces of {CHUNK} tokens in all")
        mem = L.llama_get_memory(self._ctx)
        for seq, (tokens, first, _) in enumerate(pieces):
            if first:
                L.llama_memory_seq_rm(mem, seq, -1, -1)
                self._n[seq] = 0
                self._acc[seq] = 0.0
            if self._n[seq] + len(tokens) > self.n_ctx:
                raise ContextOverflowError(f"{self._n[seq] + len(tokens)} tokens do not fit the embeddings "
                                           f"context of {self.n_ctx}", prompt_tokens=self._n[seq] + len(tokens),
                                           limit=self.n_ctx)
        self._decode(pieces)
        out: list[np.ndarray | None] = []
        row = 0
        for seq, (tokens, _, last) in enumerate(pieces):
            self._pool(seq, row, len(tokens))
            self._n[seq] += len(tokens)
            row += len(tokens)
            out.append(self._pooled(seq) if last else None)
            if last:
                L.llama_memory_seq_rm(mem, seq, -1, -1)  # its cells are free for the next inputs
        return out

    def _decode(self, pieces: Sequence[tuple[Sequence[int], bool, bool]]) -> None:
        batch = self._batch
        i = 0
        for seq, (tokens, _, _) in enumerate(pieces):
            for pos, token in enumerate(tokens, start=self._n[seq]):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 1  # marks the token as an output: its hidden state is kept
                i += 1
        batch.n_tokens = i
        rc = L.llama_decode(self._ctx, batch)
        if rc != 0:
            self.reset()
            raise EngineError(f"llama_decode failed with status {rc} while embedding")

    def _pool(self, seq: int, row: int, n: int) -> None:
        if self.pooling == "mean":
            for i in range(row, row + n):
                self._acc[seq] += self._row(i)
        elif self.pooling == "last":
            self._acc[seq] = self._row(row + n - 1)
        elif self._n[seq] == 0:  # `cls`: the input's first token
            self._acc[seq] = self._row(row)

    def _pooled(self, seq: int) -> np.ndarray:
        out = self._acc[seq] / self._n[seq] if self.pooling == "mean" else self._acc[seq]
        return out.astype(np.float32)

    def _row(self, i: int) -> np.ndarray:
        ptr = L.llama_get_embeddings_ith(self._ctx, i)
        if not ptr:
            raise EngineError(f"llama.cpp returned no embedding for output {i}")
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_embd,))

    def _require_open(self) -> None:
        if not self._ctx:
            raise EngineError("the embeddings context is closed (the model is shutting down)")

    def close(self) -> None:
        if self._ctx:
            L.llama_batch_free(self._batch)
            L.llama_free(self._ctx)
            self._ctx = None
