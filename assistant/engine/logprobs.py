"""Log-probabilities from raw logits: the sampled token's, the top alternatives' and the entropy.

Computed from the last position's logits only, so the engine never needs `logits_all` (which slows prefill).
"""

from __future__ import annotations

import numpy as np


def logsumexp_and_entropy(logits: np.ndarray) -> tuple[float, float]:
    """(log of the partition function, entropy in nats) of softmax(logits)."""
    peak = float(logits.max())
    weights = np.exp(logits - peak)
    total = float(weights.sum())
    lse = peak + float(np.log(total))
    # H = lse - E[logit]; the expectation reuses the exponentials already computed.
    entropy = lse - float(weights @ logits) / total
    return lse, max(entropy, 0.0)


def top_alternatives(logits: np.ndarray, lse: float, k: int) -> list[tuple[int, float]]:
    """The k most likely token ids with their log-probabilities, best first."""
    if k <= 0:
        return []
    k = min(k, logits.shape[0])
    idx = np.argpartition(logits, -k)[-k:]
    idx = idx[np.argsort(logits[idx])[::-1]]
    return [(int(i), float(logits[i]) - lse) for i in idx]
