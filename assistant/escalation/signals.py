"""Confidence signals from the per-token log-probabilities and entropies the engine reports.

Every signal is computed from the first tokens of a local answer (the decision window) and oriented so that
its natural reading is kept (`mean_logprob` near 0 is confident); `RISK_SIGN` says which direction means
"likely wrong".

Two families: the sampled-token signals (`mean_logprob` ... `mean_margin`) read the probability of the token
the sampler happened to pick, so they shift with the temperature; the distribution signals
(`DISTRIBUTION_SIGNALS`: entropy, top-1 probability, top-1/top-2 gap) read the model's whole next-token
distribution at each step and do not depend on which token was drawn there, so a score built on them means
the same under greedy decoding and under the default sampler.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..engine.events import TokenEvent

DISTRIBUTION_SIGNALS = ("mean_entropy", "max_entropy", "mean_top1", "min_top1", "mean_gap", "min_gap")
"""Signals of the per-step distribution only (sampler-independent at each step)."""
SIGNALS = ("mean_logprob", "min_logprob", "window_min", "low_quantile", "nll", "mean_margin") + DISTRIBUTION_SIGNALS
"""Every signal name."""

RISK_SIGN = {"mean_logprob": -1.0, "min_logprob": -1.0, "window_min": -1.0, "low_quantile": -1.0,
             "mean_entropy": 1.0, "max_entropy": 1.0, "nll": 1.0, "mean_margin": -1.0,
             "mean_top1": -1.0, "min_top1": -1.0, "mean_gap": -1.0, "min_gap": -1.0}
"""+1 when a larger value means a less trustworthy answer, -1 when a smaller one does."""

WINDOW = 3
"""Width of the sliding window whose smallest mean log-probability is `window_min`."""
QUANTILE = 0.1
"""The low quantile of per-token log-probabilities reported as `low_quantile`."""


def compute_signals(tokens: Sequence[TokenEvent]) -> dict[str, float]:
    """All signals of `tokens` (an empty sequence gives the least confident values)."""
    if not tokens:
        return {"mean_logprob": -20.0, "min_logprob": -20.0, "window_min": -20.0, "low_quantile": -20.0,
                "mean_entropy": 10.0, "max_entropy": 10.0, "nll": 20.0, "mean_margin": 0.0,
                "mean_top1": -20.0, "min_top1": -20.0, "mean_gap": 0.0, "min_gap": 0.0}
    lps = [t.logprob for t in tokens]
    ents = [t.entropy if t.entropy is not None else -t.logprob for t in tokens]
    n = len(lps)
    top1 = [t.top[0].logprob if t.top else t.logprob for t in tokens]
    gaps = [t.top[0].logprob - t.top[1].logprob if len(t.top) > 1 else 0.0 for t in tokens]
    return {
        "mean_logprob": sum(lps) / n,
        "min_logprob": min(lps),
        "window_min": _window_min(lps, WINDOW),
        "low_quantile": _quantile(lps, QUANTILE),
        "mean_entropy": sum(ents) / n,
        "max_entropy": max(ents),
        "nll": -sum(lps),
        "mean_margin": _mean_margin(tokens),
        "mean_top1": sum(top1) / n,
        "min_top1": min(top1),
        "mean_gap": sum(gaps) / n,
        "min_gap": min(gaps),
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
