"""Hidden states of a loaded llama.cpp model, from a second context of its own (the engine's context and its
KV cache are left alone).

The context is created with `embeddings=True` and `pooling_type=NONE`, so one `llama_decode` of a token list
returns, for every position, the last layer's normalised hidden state (`llama_get_embeddings_ith`) and the
next-token logits (`llama_get_logits_ith`). The escalation probes read the state at the prompt's last token
(the question-only probe: before any answer token exists) and the states over an answer's first tokens; the
self-check reads the logits after "is that right?".
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llama_cpp as L
import numpy as np
from typing_extensions import Self

from ..errors import ContextOverflowError, EngineError


class HiddenStates:
    """An embeddings context over `model` (a `llama_model_p`, e.g. a `LlamaCppEngine`'s loaded model).

    Not thread-safe: one `run` at a time. Costs one KV cache of `n_ctx` tokens (a few MB for small models).
    """

    def __init__(self, model, n_ctx: int = 512, n_threads: int = 2, n_batch: int | None = None) -> None:
        """`n_batch`: tokens per `llama_decode` (default `n_ctx`: one decode per run). llama.cpp reserves
        `n_vocab` logits per output token of a batch even here (49k floats for SmolLM2: 128 tokens cost 25 MB,
        a whole 4k context 800 MB), so a context as long as the engine's decodes in chunks; states are exact
        either way (a causal model's state depends only on the tokens before it, which the KV cache holds)."""
        if not model:
            raise EngineError("no model is loaded")
        self._model = model
        n_batch = min(n_batch or n_ctx, n_ctx)
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = n_batch
        cparams.n_seq_max = 1
        cparams.n_threads = cparams.n_threads_batch = n_threads
        cparams.embeddings = True
        cparams.pooling_type = L.LLAMA_POOLING_TYPE_NONE  # per-token states; we pool ourselves
        cparams.no_perf = True
        self._ctx = L.llama_init_from_model(model, cparams)
        if not self._ctx:
            raise EngineError(f"llama.cpp could not create an embeddings context of {n_ctx} tokens")
        self.n_ctx = n_ctx
        self.n_embd = int(L.llama_model_n_embd(model))
        self.n_vocab = int(L.llama_vocab_n_tokens(L.llama_model_get_vocab(model)))
        self.n_batch = n_batch
        self._batch = L.llama_batch_init(n_batch, 0, 1)
        self._cached: list[int] = []

    def run(self, tokens: Sequence[int], states: Sequence[int] = (), logits: Sequence[int] = ()) \
            -> tuple[np.ndarray, np.ndarray]:
        """Decode `tokens`; return the hidden states at positions `states` (float32 array,
        len(states) x n_embd) and the next-token logits at positions `logits` (float32, len(logits) x n_vocab).
        Negative positions count from the end.

        The longest prefix shared with the previous call, up to the first position asked for, is reused from
        the cache rather than recomputed (`self.reused` says how many tokens were).

        Raises ContextOverflowError when `tokens` do not fit, EngineError if llama.cpp fails."""
        n = len(tokens)
        if not 0 < n <= self.n_ctx:
            raise ContextOverflowError(f"{n} tokens do not fit the embeddings context of {self.n_ctx}",
                                       prompt_tokens=n, limit=self.n_ctx)
        common = 0
        for a, b in zip(self._cached, tokens):
            if a != b:
                break
            common += 1
        wanted = [p if p >= 0 else n + p for p in (*states, *logits)]
        common = min([common, n - 1, *wanted])
        if not L.llama_memory_seq_rm(L.llama_get_memory(self._ctx), 0, common, -1):
            L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
            common = 0
        self.reused = common
        self._cached = []
        found_states = np.empty((len(states), self.n_embd), dtype=np.float32)
        found_logits = np.empty((len(logits), self.n_vocab), dtype=np.float32)
        for start in range(common, n, self.n_batch):
            end = min(n, start + self.n_batch)
            batch = self._batch
            batch.n_tokens = end - start
            for i, token in enumerate(tokens[start:end]):
                batch.token[i] = token
                batch.pos[i] = start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1  # an embeddings context outputs every token anyway
            rc = L.llama_decode(self._ctx, batch)
            if rc != 0:
                L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
                raise EngineError(f"llama_decode failed with status {rc}")
            self._rows(L.llama_get_embeddings_ith, states, n, start, end, found_states)
            self._rows(L.llama_get_logits_ith, logits, n, start, end, found_logits)
        self._cached = list(tokens)
        return found_states, found_logits

    def _rows(self, getter, positions: Sequence[int], n: int, start: int, end: int, out: np.ndarray) -> None:
        """Copy the outputs of the positions that lie in the batch just decoded ([start, end)) into `out`."""
        width = out.shape[1]
        for row, pos in enumerate(positions):
            pos = pos if pos >= 0 else n + pos
            if not start <= pos < end:
                continue
            ptr = getter(self._ctx, pos - start)
            if not ptr:
                raise EngineError(f"llama.cpp returned no output for position {pos}")
            out[row] = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(width,))

    def close(self) -> None:
        if self._ctx:
            L.llama_batch_free(self._batch)
            L.llama_free(self._ctx)
            self._ctx = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
