"""Confidence signals from the per-token log-probabilities and entropies the engine reports.

Every signal is computed from the first tokens of a local answer (the decision window) and oriented so that
its natural reading is kept (`mean_logprob` near 0 is confident); `RISK_SIGN` says which direction means
"likely wrong".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..engine.events import TokenEvent

SIGNALS = ("mean_logprob", "min_logprob", "window_min", "low_quantile", "mean_entropy", "max_entropy", "nll",
           "mean_margin")
"""Signal names, in the order the combined score's weights use."""

RISK_SIGN = {"mean_logprob": -1.0, "min_logprob": -1.0, "window_min": -1.0, "low_quantile": -1.0,
             "mean_entropy": 1.0, "max_entropy": 1.0, "nll": 1.0, "mean_margin": -1.0}
"""+1 when a larger value means a less trustworthy answer, -1 when a smaller one does."""

WINDOW = 3
"""Width of the sliding window whose smallest mean log-probability is `window_min`."""
QUANTILE = 0.1
"""The low quantile of per-token log-probabilities reported as `low_quantile`."""


def compute_signals(tokens: Sequence[TokenEvent]) -> dict[str, float]:
    """All signals of `tokens` (an empty sequence gives the least confident values)."""
    if not tokens:
        return {"mean_logprob": -20.0, "min_logprob": -20.0, "window_min": -20.0, "low_quantile": -20.0,
                "mean_entropy": 10.0, "max_entropy": 10.0, "nll": 20.0, "mean_margin": 0.0}
    lps = [t.logprob for t in tokens]
    ents = [t.entropy if t.entropy is not None else -t.logprob for t in tokens]
    n = len(lps)
    return {
        "mean_logprob": sum(lps) / n,
        "min_logprob": min(lps),
        "window_min": _window_min(lps, WINDOW),
        "low_quantile": _quantile(lps, QUANTILE),
        "mean_entropy": sum(ents) / n,
        "max_entropy": max(ents),
        "nll": -sum(lps),
        "mean_margin": _mean_margin(tokens),
    }


def _window_min(values: Sequence[float], width: int) -> float:
    if len(values) <= width:
        return sum(values) / len(values)
    total = sum(values[:width])
    best = total
    for i in range(width, len(values)):
        total += values[i] - values[i - width]
        best = min(best, total)
    return best / width


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean_margin(tokens: Sequence[TokenEvent]) -> float:
    """Mean gap between the sampled token's log-probability and the best alternative that is not it (0 without
    alternatives: the engine was not asked for them)."""
    gaps = []
    for t in tokens:
        others = [a.logprob for a in t.top if a.token_id != t.token_id]
        if others:
            gaps.append(t.logprob - others[0])
    return sum(gaps) / len(gaps) if gaps else 0.0
