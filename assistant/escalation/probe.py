"""Hidden states for the answer probe at serving time: the mean last-layer state over a local answer's window,
computed in a second llama.cpp context on the engine's loaded weights (`engine.llamacpp_embed.HiddenStates`).

The context is made, used and freed on the scheduler's loop thread (`Scheduler.call`), between two decode
steps, so it never computes beside the engine's own context and the engine is never touched from another
thread. One pass decodes the prompt and the window's tokens (the longest prefix shared with the previous
request is reused from the context's cache); the probe then reads the states at the answer's positions, as
`sweep.Collector` recorded them when the probe was fit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..engine.side_context import SideContext
from ..scheduler import Scheduler

CHUNK = 128
"""Tokens per decode of the hidden-state context: bounds the output buffer llama.cpp reserves (n_vocab logits
per token, 25 MB for SmolLM2's vocabulary; see `HiddenStates`)."""
TIMEOUT_S = 30.0
"""Longest wait for the pass (queueing behind other calls included) before the router falls back to the
distribution score for that request; a quiet pass over a short prompt takes well under a second."""


def probe_unavailable(engine) -> str | None:
    """Why `engine` cannot give hidden states (None: it can)."""
    if engine is None:
        return "no engine to read hidden states from"
    if not getattr(engine.capabilities, "hidden_states", False):
        return "the engine's backend does not give hidden states"
    if not getattr(engine, "model_handle", None):
        return "the engine has no loaded llama.cpp model"
    return None


def model_sha256(path: Path) -> str:
    """The sha256 of the GGUF at `path`: from the model store's record beside it when it names this file at
    this size (verified when the store installed it), else hashed once per process (~0.2 s per 100 MB)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        record = json.loads((path.parent / "record.json").read_text(encoding="utf-8"))
        if record.get("file") == path.name and record.get("size_bytes") == size and record.get("sha256"):
            return str(record["sha256"])
    except (OSError, ValueError):
        pass
    return _hashed(str(path.resolve()), size, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _hashed(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class AnswerStates:
    """Mean answer hidden states through `scheduler` (whose engine has `capabilities.hidden_states`).

    Thread-safe: calls from several request threads queue on the loop thread. The context (a KV cache of the
    engine's `n_ctx` tokens, a few MB for small models) is made at the first call and freed by `close`."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.engine = scheduler.engine
        # llamacpp_embed.HiddenStates, made at the first call and used on the loop thread
        self._states = SideContext(self._make_states)

    @property
    def n_embd(self) -> int:
        """The hidden size of the loaded model."""
        import llama_cpp as L

        return int(L.llama_model_n_embd(self.engine.model_handle))

    def window_state(self, prompt: Sequence[int], answer: Sequence[int],
                     timeout: float = TIMEOUT_S) -> np.ndarray:
        """The mean hidden state (float32, n_embd) at the positions of `answer`'s tokens after `prompt` (the
        prompt's last position when `answer` is empty). Raises EngineBusyError (too many calls wait),
        TimeoutError, ContextOverflowError (prompt + answer longer than the context), EngineError."""
        return self.answer_states(prompt, answer, timeout).mean(axis=0)

    def answer_states(self, prompt: Sequence[int], answer: Sequence[int],
                      timeout: float = TIMEOUT_S) -> np.ndarray:
        """The hidden states (float32, len(answer) x n_embd; 1 x n_embd, the prompt's last, when `answer` is
        empty) at the positions of `answer`'s tokens after `prompt`: a mean over the first k rows is the
        probe's state for a window of k. Errors as `window_state`."""
        tokens = [*prompt, *answer]
        positions = list(range(len(prompt), len(tokens))) if answer else [len(prompt) - 1]
        return self.scheduler.call(lambda: self._run(tokens, positions), timeout=timeout)

    def _make_states(self):
        from ..engine.llamacpp_embed import HiddenStates

        threads = getattr(getattr(self.engine, "config", None), "n_threads", 1)
        return HiddenStates(self.engine.model_handle, n_ctx=self.engine.info.n_ctx, n_threads=threads,
                            n_batch=CHUNK)

    def _run(self, tokens: list[int], positions: list[int]) -> np.ndarray:
        with self._states.use() as context:
            states, _ = context.run(tokens, positions)
            return states

    def close(self) -> None:
        """Free the context (waits for a pass in progress on the loop thread)."""
        self._states.close()
