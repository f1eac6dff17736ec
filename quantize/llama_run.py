"""A minimal llama.cpp runner on the low-level API: tokenize, then decode fixed-size chunks, optionally
returning
the logits of every position and observing every graph node through an eval callback (importance matrix)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from typing_extensions import Self

from assistant.engine.llamacpp_load import capture_log, load_model
from assistant.errors import EngineError, QuantizeError


class Runner:
    """One model and one context of `n_ctx` tokens; use as a context manager."""

    def __init__(self, path: Path, n_ctx: int, threads: int, cb_eval: Any = None) -> None:
        self.path, self.n_ctx = path, n_ctx
        self._cb = cb_eval  # ctypes callbacks must outlive the context that calls them
        try:
            self.model = load_model(path)
        except EngineError as exc:
            raise QuantizeError(str(exc)) from None
        with capture_log() as log:
            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = n_ctx
            cparams.n_threads = cparams.n_threads_batch = threads
            cparams.no_perf = True
            if cb_eval is not None:
                cparams.cb_eval = cb_eval
                cparams.cb_eval_user_data = None
            self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
            if not self.ctx:
                llama_cpp.llama_model_free(self.model)
                raise QuantizeError(f"llama.cpp cannot create a context for {path.name}: {log.last_errors()}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.bos = llama_cpp.llama_vocab_bos(self.vocab)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab)) and self.bos >= 0
        self._batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "ctx", None):
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self.ctx)
            llama_cpp.llama_model_free(self.model)
            self.ctx = None

    def tokenize(self, text: str) -> np.ndarray:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, False, False)
        if n < 0:
            raise QuantizeError("tokenizing the calibration text failed")
        return np.frombuffer(buf, dtype=np.int32, count=n).copy()

    def chunks(self, tokens: np.ndarray, max_chunks: int | None = None) -> list[np.ndarray]:
        """Consecutive n_ctx-token chunks; the first token becomes BOS when the model expects one (as in
        llama.cpp's perplexity tool), so every chunk starts like a fresh document."""
        n = len(tokens) // self.n_ctx
        if max_chunks is not None:
            n = min(n, max_chunks)
        out = []
        for i in range(n):
            chunk = tokens[i * self.n_ctx : (i + 1) * self.n_ctx].copy()
            if self.add_bos:
                chunk[0] = self.bos
            out.append(chunk)
        return out

    def decode(
        self, chunk: np.ndarray, logits_from: int | None = None, keep: bool = True
    ) -> np.ndarray | None:
        """Run one chunk from an empty cache; returns float32 logits [positions from `logits_from`, n_vocab]
        (None when `keep` is false: the outputs were only requested so every layer processes every
        position)."""
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        b = self._batch
        n = len(chunk)
        b.n_tokens = n
        for i in range(n):
            b.token[i] = int(chunk[i])
            b.pos[i] = i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if logits_from is not None and i >= logits_from else 0
        with capture_log() as log:
            rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            raise QuantizeError(f"llama.cpp decode failed ({rc}): {log.last_errors()}")
        if logits_from is None or not keep:
            return None
        rows = n - logits_from
        ptr = llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(
            ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(rows, self.n_vocab)
        ).copy()
