"""Judging a confidence score on held-out answers: AUROC with a bootstrap interval (resampling questions, not
answers, since several seeds answer each question), the deferral curve (accuracy when the highest-scoring share
goes to a cloud that is always right) and the share that recovers a given part of the gap to that cloud."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

BOOTSTRAP = 1000
"""Bootstrap resamples behind each 95% interval."""
GAP_RECOVERED = 0.8
"""The part of the accuracy gap to an always-right cloud the headline share must recover (the issue's goal)."""


def auroc(scores: Sequence[float], wrong: Sequence[int]) -> float:
    """P(a wrong answer scores above a right one), ties half (Mann-Whitney via average ranks); nan if one
    class is missing."""
    s, y = np.asarray(scores, dtype=float), np.asarray(wrong, dtype=int)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2.0  # the mean rank (1-based) of each run of ties
    ranks = average[inverse]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auroc(scores: Sequence[float], wrong: Sequence[int], groups: Sequence[str],
                    reps: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(AUROC, 2.5th, 97.5th percentile) resampling whole groups (questions) with replacement.

    Vectorised: a resample is a vector of multinomial counts per group, i.e. a weight per answer, and the
    weighted Mann-Whitney statistic is computed for all resamples at once over the runs of tied scores."""
    s, y, g = np.asarray(scores, dtype=float), np.asarray(wrong, dtype=int), np.asarray(groups)
    point = auroc(s, y)
    if np.isnan(point):
        return point, float("nan"), float("nan")
    _, group_of = np.unique(g, return_inverse=True)
    n_groups = int(group_of.max()) + 1
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=reps)  # reps x groups
    weights = counts[:, group_of].astype(float)  # reps x answers
    _, run_of = np.unique(s, return_inverse=True)  # runs of tied scores, ascending
    n_runs = int(run_of.max()) + 1
    pos, neg = np.zeros((reps, n_runs)), np.zeros((reps, n_runs))
    for mask, out in ((y == 1, pos), (y == 0, neg)):
        np.add.at(out, (slice(None), run_of[mask]), weights[:, mask])
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each run
    total = pos.sum(axis=1) * neg.sum(axis=1)
    ok = total > 0
    values = (pos * (below + 0.5 * neg)).sum(axis=1)[ok] / total[ok]
    if not len(values):
        return point, float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return point, float(lo), float(hi)


def deferral_curve(scores: Sequence[float], wrong: Sequence[int], points: int = 21) -> list[tuple[float, float]]:
    """(share escalated, accuracy) for shares 0, 1/(points-1), ..., 1: the highest scores go to a cloud
    that is always right, the rest keep the local answer."""
    s, y = np.asarray(scores, dtype=float), np.asarray(wrong, dtype=int)
    order = np.argsort(-s, kind="mergesort")
    n = len(s)
    out = []
    for share in np.linspace(0.0, 1.0, points):
        k = round(share * n)
        local_right = int((1 - y[order[k:]]).sum())
        out.append((float(share), (k + local_right) / n))
    return out


def share_to_recover(scores: Sequence[float], wrong: Sequence[int], part: float = GAP_RECOVERED) -> float:
    """The smallest share of requests to escalate (highest scores first) so that accuracy recovers `part` of
    the gap between local accuracy and an always-right cloud."""
    s, y = np.asarray(scores, dtype=float), np.asarray(wrong, dtype=int)
    n = len(s)
    if n == 0 or y.sum() == 0:
        return 0.0
    base = 1 - y.mean()
    goal = base + part * (1 - base)
    caught = np.cumsum(y[np.argsort(-s, kind="mergesort")])  # wrong answers escalated after k+1 requests
    right_after = base + caught / n  # each escalated wrong answer becomes right
    k = int(np.argmax(right_after >= goal - 1e-12))
    return (k + 1) / n


def oracle_share(wrong: Sequence[int], part: float = GAP_RECOVERED) -> float:
    """The share a perfect score would need: `part` of the wrong answers, nothing else."""
    y = np.asarray(wrong, dtype=int)
    return float(np.ceil(part * y.sum()) / len(y)) if len(y) else 0.0


def escalation_rate(scores: Sequence[float], threshold: float) -> float:
    s = np.asarray(scores, dtype=float)
    return float((s > threshold).mean()) if len(s) else 0.0


def plot_deferral(curves: dict[str, list[tuple[float, float]]], path: Path, title: str,
                  marks: dict[str, float] | None = None) -> Path:
    """Write the deferral curves as a PNG (needs matplotlib: the `calibrate` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for name, curve in curves.items():
        xs, ys = zip(*curve)
        ax.plot(xs, ys, label=name, linewidth=1.6)
    for name, x in (marks or {}).items():
        ax.axvline(x, linestyle=":", linewidth=1, color="grey")
        ax.text(x, 0.02, f" {name}", rotation=90, va="bottom", fontsize=7, color="grey")
    ax.set_xlabel("share of requests escalated to the cloud")
    ax.set_ylabel("accuracy (cloud always right)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
