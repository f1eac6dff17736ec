"""The combined confidence score: a logistic regression over standardised signals, fit offline on graded
answers (`hearth calibrate`) and shipped as data (`calibration.json`). Pure numpy; also the AUROC used to
judge signals."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .defaults import Mode, calibration_file


@dataclass(frozen=True)
class Calibration:
    """A fitted combined score: P(the local answer is wrong) from the signals."""

    features: tuple[str, ...]
    """Signal names the weights apply to, in order."""
    mean: tuple[float, ...]
    """Per-feature mean used for standardising."""
    scale: tuple[float, ...]
    """Per-feature standard deviation used for standardising."""
    weights: tuple[float, ...]
    """Logistic-regression weights on the standardised features."""
    bias: float
    """Logistic-regression intercept."""
    threshold: float
    """Score above which an answer counts as low confidence (suggested by calibration)."""
    window: int
    """Decision window (tokens) the signals were computed over when fitting."""
    meta: dict = field(default_factory=dict)
    """Provenance: model, data set, AUROCs, escalation rate, date."""

    def score(self, signals: Mapping[str, float]) -> float:
        """P(wrong) for one answer's signals."""
        z = self.bias
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.weights):
            z += w * (signals[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Calibration:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        for key in ("features", "mean", "scale", "weights"):
            raw[key] = tuple(raw[key])
        return cls(**raw)


@lru_cache(maxsize=8)
def load_calibration(mode: Mode, directory: Path | None = None) -> Calibration:
    """The calibration for `mode` in `directory`, or the one shipped with Hearth."""
    return Calibration.load(calibration_file(mode, directory))


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve of `scores` for positives (`labels` 1); ties count one half (Mann-Whitney)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=int)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (the intercept is not penalised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -60, 60)))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_calibration(rows: Sequence[Mapping[str, float]], wrong: Sequence[int], features: Sequence[str],
                    window: int, target_rate: float, l2: float = 1.0) -> Calibration:
    """Fit the combined score on all rows; the threshold escalates `target_rate` of them."""
    x = np.array([[r[f] for f in features] for r in rows], dtype=float)
    y = np.asarray(wrong, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    w, b = fit_logistic((x - mean) / scale, y, l2)
    cal = Calibration(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()), tuple(w.tolist()), b, 0.5,
                      window)
    scores = [cal.score(r) for r in rows]
    # Rounded up to 4 decimals: a readable setting that still escalates at most the target share.
    threshold = math.ceil(threshold_for_rate(scores, target_rate) * 1e4) / 1e4
    return Calibration(cal.features, cal.mean, cal.scale, cal.weights, cal.bias, threshold, window)


def threshold_for_rate(scores: Sequence[float], rate: float) -> float:
    """The smallest threshold for which at most `rate` of `scores` lie strictly above it."""
    ordered = sorted(scores, reverse=True)
    k = math.floor(rate * len(ordered))
    if k <= 0:
        return float(ordered[0]) if ordered else 1.0
    if k >= len(ordered):
        return float(ordered[-1]) - 1e-9
    return float(ordered[k])


def cross_validated_scores(rows: Sequence[Mapping[str, float]], wrong: Sequence[int], features: Sequence[str],
                           folds: int = 5, l2: float = 1.0, seed: int = 0) -> list[float]:
    """Out-of-fold scores: each row is scored by a model fit without it (an honest AUROC estimate)."""
    n = len(rows)
    order = np.random.default_rng(seed).permutation(n)
    out = [0.0] * n
    for k in range(folds):
        test = set(order[k::folds].tolist())
        train = [i for i in range(n) if i not in test]
        cal = fit_calibration([rows[i] for i in train], [wrong[i] for i in train], features, 0, 0.5, l2)
        for i in test:
            out[i] = cal.score(rows[i])
    return out
