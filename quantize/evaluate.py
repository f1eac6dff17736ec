"""Quality of a quantized build against its unquantized source, on held-out text (llama.cpp perplexity-tool
conventions: n_ctx-token chunks starting with BOS, only the second half of each chunk is scored).

The reference pass stores the F16 model's log-probabilities of the scored positions on disk (float16,
memory-mapped),
so any number of quantized builds can be compared later without holding two models in memory.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from typing_extensions import Self

from assistant.errors import QuantizeError
from assistant.progress import Progress

from .llama_run import Runner


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Reference:
    """The unquantized model's scored log-probabilities; a context manager that deletes its scratch file."""

    def __init__(
        self,
        f16_path: Path,
        text: str,
        n_ctx: int,
        threads: int,
        max_chunks: int | None = None,
        scratch_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(dir=scratch_dir, prefix=".hearth-eval-")
        with Runner(f16_path, n_ctx, threads) as runner:
            self.chunks = runner.chunks(runner.tokenize(text), max_chunks)
            if not self.chunks:
                self._tmp.cleanup()
                raise QuantizeError(f"the evaluation text is shorter than one {n_ctx}-token chunk")
            self.first = n_ctx // 2
            n_scored = n_ctx - 1 - self.first
            shape = (len(self.chunks), n_scored, runner.n_vocab)
            self.logp = np.lib.format.open_memmap(
                Path(self._tmp.name) / "ref.npy", mode="w+", dtype=np.float16, shape=shape
            )
            self.top = np.empty(shape[:2], dtype=np.int32)
            nll = 0.0
            for i, chunk in enumerate(self.chunks):
                lp = _log_softmax(runner.decode(chunk, logits_from=self.first)[:-1].astype(np.float64))
                targets = chunk[self.first + 1 :]
                nll -= lp[np.arange(len(targets)), targets].sum()
                self.top[i] = lp.argmax(axis=1)
                self.logp[i] = lp
                if progress:
                    progress("eval f16", i + 1, len(self.chunks))
        self.n_tokens = len(self.chunks) * n_scored
        self.ppl = math.exp(nll / self.n_tokens)
        self.n_ctx = n_ctx

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.logp = None  # release the memory map before the directory goes
        self._tmp.cleanup()


@dataclass(frozen=True, slots=True)
class EvalResult:
    """How a quantized build compares with the unquantized one on held-out text."""

    ppl_f16: float
    """Perplexity of the unquantized (F16) build."""
    ppl: float
    """Perplexity of the quantized build."""
    kld_mean: float
    """Mean KL divergence KL(P_f16 || P_quant) per token, in nats."""
    kld_p99: float
    """99th percentile of the per-token KL divergence."""
    same_top: float
    """Fraction of positions where both builds rank the same token first."""
    tokens: int
    """Positions scored."""
    n_ctx: int
    """Chunk length in tokens."""

    def as_dict(self) -> dict[str, float | int]:
        return {
            "ppl_f16": self.ppl_f16,
            "ppl": self.ppl,
            "dppl": self.ppl - self.ppl_f16,
            "kld_mean": self.kld_mean,
            "kld_p99": self.kld_p99,
            "same_top": self.same_top,
            "tokens": self.tokens,
            "n_ctx": self.n_ctx,
        }


def compare(ref: Reference, quant_path: Path, threads: int, progress: Progress | None = None) -> EvalResult:
    """Score `quant_path` on the reference's chunks."""
    klds: list[np.ndarray] = []
    nll = 0.0
    same = 0
    with Runner(quant_path, ref.n_ctx, threads) as runner:
        for i, chunk in enumerate(ref.chunks):
            lq = _log_softmax(runner.decode(chunk, logits_from=ref.first)[:-1].astype(np.float64))
            lp = ref.logp[i].astype(np.float64)
            targets = chunk[ref.first + 1 :]
            nll -= lq[np.arange(len(targets)), targets].sum()
            klds.append(np.maximum((np.exp(lp) * (lp - lq)).sum(axis=1), 0.0))
            same += int((lq.argmax(axis=1) == ref.top[i]).sum())
            if progress:
                progress("eval quant", i + 1, len(ref.chunks))
    kld = np.concatenate(klds)
    return EvalResult(
        ppl_f16=ref.ppl,
        ppl=math.exp(nll / ref.n_tokens),
        kld_mean=float(kld.mean()),
        kld_p99=float(np.percentile(kld, 99)),
        same_top=same / ref.n_tokens,
        tokens=ref.n_tokens,
        n_ctx=ref.n_ctx,
    )
