"""Embeddings of texts (or token arrays) from the loaded model, through the scheduler that owns it.

Each input is tokenized like a raw completion prompt (the model's BOS if it adds one; control tokens parsed, as
llama.cpp's server tokenizes embedding inputs), decoded in an embeddings context of its own beside the engine's
(`engine.llamacpp_pool`), pooled the way the model's GGUF metadata says (mean when it says nothing) and
L2-normalised. The decoding runs on the scheduler's loop thread between two decode steps (`Scheduler.call`), in
batches of at most `CHUNK` tokens (a long input in several, short ones several to a batch), so streams being
generated keep flowing while a long input is embedded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .encodable import require_encodable
from .engine.side_context import SideContext
from .errors import (
    ContextOverflowError,
    EngineBusyError,
    InvalidRequestError,
    RequestCancelledError,
)
from .scheduler import Scheduler

Input = str | Sequence[int]
"""A text, or the token ids of one (each in `[0, n_vocab)`)."""


@dataclass(frozen=True)
class Embeddings:
    """The embeddings of one request's inputs, in input order."""

    vectors: np.ndarray
    """float32, `len(inputs) x n_embd`; each row has L2 norm 1 (unless `normalize=False` was asked)."""
    prompt_tokens: tuple[int, ...]
    """Tokens embedded per input (after truncation)."""
    truncated_tokens: tuple[int, ...]
    """Tokens dropped from the end of each input to fit the context (0 unless `truncate=True` was asked)."""
    pooling: str
    """How token states were pooled: `mean`, `cls` or `last`."""

    @property
    def total_tokens(self) -> int:
        return sum(self.prompt_tokens)


@dataclass(frozen=True)
class _Piece:
    index: int
    start: int
    end: int


class Embedder:
    """Embeds through `scheduler` (whose engine must expose `model_handle`, as `LlamaCppEngine` does).

    One request embeds at a time (they share one context); up to `max_waiting` more wait their turn, later ones
    get EngineBusyError. The context is made at the first request and freed by `close`."""

    def __init__(self, scheduler: Scheduler, *, max_waiting: int = 64) -> None:
        self.scheduler = scheduler
        self.engine = scheduler.engine
        self.max_waiting = max_waiting
        self._turn = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0
        # engine.llamacpp_pool.PooledStates, made at the first request and used on the loop thread
        self._states = SideContext(self._make_states)

    @property
    def n_ctx(self) -> int:
        """The longest input, in tokens (the loaded model's context window)."""
        return self.engine.info.n_ctx

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every later request raises EngineError)."""
        return self._states.closed

    @property
    def n_embd(self) -> int:
        """Values in each vector (the model's hidden size). InvalidRequestError if the backend cannot embed."""
        from .engine.llamacpp_pool import embedding_size

        return embedding_size(self._model())

    def _model(self):
        model = getattr(self.engine, "model_handle", None)
        if not model:
            raise InvalidRequestError("the loaded model's backend does not produce embeddings", param="model")
        return model

    def tokens(self, inputs: Sequence[Input], *, truncate: bool = False) -> tuple[list[list[int]], list[int]]:
        """Each input's tokens (cut to `n_ctx` with `truncate`) and how many were cut from each.

        Raises InvalidRequestError (no inputs; an empty input; a token id out of range; text that cannot be
        encoded), ContextOverflowError (an input longer than `n_ctx` without `truncate`)."""
        if not inputs:
            raise InvalidRequestError("input must not be empty", param="input")
        n_vocab = self.engine.info.n_vocab
        out: list[list[int]] = []
        dropped: list[int] = []
        for i, item in enumerate(inputs):
            where = f"input[{i}]" if len(inputs) > 1 else "input"
            if isinstance(item, str):
                require_encodable(item, where)
                tokens = self.engine.prompt_tokens(item)
            else:
                tokens = [int(t) for t in item]
                bad = next((t for t in tokens if not 0 <= t < n_vocab), None)
                if bad is not None:
                    raise InvalidRequestError(f"{where}: token id {bad} is outside the vocabulary [0, {n_vocab})",
                                              param=where)
            if not tokens:
                raise InvalidRequestError(f"{where} is empty: there is nothing to embed", param=where)
            cut = max(0, len(tokens) - self.n_ctx)
            if cut and not truncate:
                error = ContextOverflowError(f"{where} has {len(tokens)} tokens; the model embeds at most "
                                             f"{self.n_ctx} (its context window)", prompt_tokens=len(tokens),
                                             limit=self.n_ctx)
                error.param = where
                raise error
            out.append(tokens[:self.n_ctx])
            dropped.append(cut)
        return out, dropped

    def embed(self, inputs: Sequence[Input], *, truncate: bool = False, normalize: bool = True,
              max_tokens: int | None = None, timeout: float | None = None,
              cancel: threading.Event | None = None) -> Embeddings:
        """Embed `inputs` (see `tokens` for the errors about them). `max_tokens` caps the tokens of all inputs
        together (InvalidRequestError beyond); `timeout` (seconds, waiting included) raises TimeoutError; setting
        `cancel` stops the work before its next batch (RequestCancelledError).

        Raises EngineBusyError when `max_waiting` requests already wait, EngineError when the model is shutting
        down or llama.cpp fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tokens, dropped = self.tokens(inputs, truncate=truncate)
        total = sum(map(len, tokens))
        if max_tokens is not None and total > max_tokens:
            raise InvalidRequestError(f"the inputs have {total} tokens together; at most {max_tokens} are embedded "
                                      "per request", param="input")
        with self._admitted(deadline):
            pooling, rows = self._run(tokens, deadline, cancel)
        vectors = np.stack(rows).astype(np.float32)
        if normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms > 0, norms, 1.0)
        return Embeddings(vectors, tuple(map(len, tokens)), tuple(dropped), pooling)

    @contextmanager
    def _admitted(self, deadline: float | None) -> Iterator[None]:
        """Wait for this request's turn (EngineBusyError when too many wait, TimeoutError past `deadline`)."""
        with self._count:
            if self._waiting >= self.max_waiting:
                raise EngineBusyError(f"{self._waiting} embedding requests are already waiting; retry later",
                                      retry_after=1)
            self._waiting += 1
        try:
            got = self._turn.acquire(timeout=-1 if deadline is None else max(0.0, deadline - time.monotonic()))
        finally:
            with self._count:
                self._waiting -= 1
        if not got:
            raise TimeoutError("the embedding request did not get the model before its deadline")
        try:
            yield
        finally:
            self._turn.release()

    def _run(self, tokens: list[list[int]], deadline: float | None,
             cancel: threading.Event | None) -> tuple[str, list[np.ndarray]]:
        from .engine.llamacpp_pool import CHUNK, SEQS

        pooling = self._call(self._open, deadline)
        rows: list[np.ndarray] = [np.empty(0)] * len(tokens)
        for work in _calls(tokens, CHUNK, SEQS):
            if cancel is not None and cancel.is_set():
                raise RequestCancelledError("the embedding request was cancelled")
            self._call(lambda work=work: self._work(tokens, work, rows), deadline)
        return pooling, rows

    def _call(self, fn: Callable, deadline: float | None):
        return self.scheduler.call(fn, timeout=_remaining(deadline))

    # -- on the loop thread ---------------------------------------------------------------------------------------
    def _make_states(self):
        from .engine.llamacpp_pool import PooledStates, model_pooling

        model = self._model()
        threads = getattr(getattr(self.engine, "config", None), "n_threads", 1)
        return PooledStates(model, self.n_ctx, threads, model_pooling(model))

    def _open(self) -> str:
        """Make the embeddings context at first use; the pooling it applies."""
        with self._states.use() as states:
            states.reset()  # whatever a request that ran past its deadline left behind
            return states.pooling

    def _work(self, tokens: list[list[int]], work: list[_Piece], rows: list[np.ndarray]) -> None:
        with self._states.use() as states:
            pieces = [(tokens[p.index][p.start:p.end], p.start == 0, p.end == len(tokens[p.index]))
                      for p in work]
            for piece, pooled in zip(work, states.run(pieces)):
                if pooled is not None:
                    rows[piece.index] = pooled

    def close(self) -> None:
        """Free the embeddings context (waits for a piece of work in progress on the loop thread)."""
        self._states.close()


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the embedding request ran past its deadline")
    return left


def _calls(tokens: list[list[int]], chunk: int, seqs: int) -> list[list[_Piece]]:
    """The work split into calls of at most `chunk` tokens: several short inputs together (at most `seqs`, each
    whole), a long one alone in pieces (so the KV cache never holds a long input beside others)."""
    calls: list[list[_Piece]] = []
    room = 0
    for index, toks in enumerate(tokens):
        n = len(toks)
        if n > chunk:
            calls += [[_Piece(index, start, min(n, start + chunk))] for start in range(0, n, chunk)]
            room = 0
            continue
        if n > room or len(calls[-1]) >= seqs:
            calls.append([])
            room = chunk
        calls[-1].append(_Piece(index, 0, n))
        room -= n
    return calls
