"""The combined confidence score: a logistic regression over standardised signals, fit offline on graded
answers (`hearth calibrate`, see `heldout.py`) and shipped as data (`calibration_*.json`), optionally with an
answer hidden-state probe (`Probe`) that the router prefers wherever the engine gives hidden states. Pure numpy."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .defaults import Mode, calibration_file


@dataclass(frozen=True)
class Probe:
    """The answer hidden-state probe: P(the local answer is wrong) from the model's last-layer hidden state
    (after the output norm, as `llamacpp_embed.HiddenStates` returns it) averaged over the window's answer
    tokens; a ridge logistic regression on the standardised state. Only valid for the model it was fit for:
    another model's states mean nothing to it (`mismatch`)."""

    model: str
    """Catalog id of the model it was fit for (`ModelInfo.id`)."""
    quantization: str
    """Its file type (`ModelInfo.quantization`, e.g. `Q4_1`): another quantization shifts the states."""
    n_embd: int
    """Hidden size; `mean`, `scale` and `weights` have this many values."""
    mean: tuple[float, ...]
    """Per-dimension mean of the training states (standardising)."""
    scale: tuple[float, ...]
    """Per-dimension standard deviation of the training states."""
    weights: tuple[float, ...]
    """Logistic-regression weights on the standardised state."""
    bias: float
    """Intercept."""
    threshold: float
    """Probe score (P(wrong)) above which an answer counts as low confidence at the fit's target rate."""
    score_quantiles: tuple[float, ...]
    """0th..100th percentiles of the probe's scores on validation answers (any target rate's threshold)."""
    sha256: str | None = None
    """The GGUF file's sha256 when the fit knew it: then it decides whether a loaded model is this one."""
    meta: dict = field(default_factory=dict)
    """Provenance: ridge strength, answers fit on, held-out numbers."""

    def score(self, state) -> float:
        """P(wrong) for one answer's mean hidden state (a sequence of `n_embd` floats)."""
        x = (np.asarray(state, dtype=np.float64) - self._mean) / self._scale
        z = float(x @ self._weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def threshold_for(self, rate: float) -> float:
        """The probe score above which `rate` of validation answers lie."""
        q = self.score_quantiles
        return float(np.interp(1.0 - rate, np.linspace(0.0, 1.0, len(q)), q)) if q else self.threshold

    def mismatch(self, model: str, quantization: str, n_embd: int,
                 sha256: Callable[[], str | None] | None = None) -> str | None:
        """Why the probe cannot score states of this model (None: it can). The file's `sha256` (asked for only
        when the cheap checks pass, and only if the probe records one) decides when it is known; otherwise
        the catalog id (which differs when the same file is loaded by path) with the hidden size."""
        if n_embd != self.n_embd:
            return f"the probe was fit for hidden size {self.n_embd}, the loaded model has {n_embd}"
        if quantization != self.quantization:
            return f"the probe was fit for a {self.quantization} file, the loaded model is {quantization}"
        digest = sha256() if self.sha256 and sha256 is not None else None
        if digest is not None:
            return None if digest == self.sha256 else (
                f"the probe was fit for {self.model} (sha256 {self.sha256[:12]}...), the loaded model's file "
                f"has sha256 {digest[:12]}...")
        if model != self.model:
            return f"the probe was fit for {self.model}, the loaded model is {model}"
        return None

    @property
    def _mean(self) -> np.ndarray:
        return _array(self, "mean")

    @property
    def _scale(self) -> np.ndarray:
        return _array(self, "scale")

    @property
    def _weights(self) -> np.ndarray:
        return _array(self, "weights")

    @classmethod
    def from_dict(cls, raw: dict) -> Probe:
        for key in ("mean", "scale", "weights", "score_quantiles"):
            raw[key] = tuple(float(v) for v in raw[key])
        if not len(raw["mean"]) == len(raw["scale"]) == len(raw["weights"]) == int(raw["n_embd"]):
            raise ValueError("a probe needs `n_embd` values in `mean`, `scale` and `weights`")
        return cls(**raw)


def _array(probe: Probe, name: str) -> np.ndarray:
    """`probe`'s tuple `name` as a float64 array, converted once (the dataclass is frozen: cached aside)."""
    cache = probe.__dict__.setdefault("_arrays", {})
    if name not in cache:
        cache[name] = np.asarray(getattr(probe, name), dtype=np.float64)
    return cache[name]


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
    probe: Probe | None = None
    """The answer hidden-state probe fit on the same answers, used instead of the signals' score where the
    engine gives hidden states of the model it was fit for (None: the signals' score only)."""

    def score(self, signals: Mapping[str, float]) -> float:
        """P(wrong) for one answer's signals."""
        z = self.bias
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.weights):
            z += w * (signals[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def threshold_for(self, rate: float) -> float:
        """The score above which `rate` of answers lie, read from the held-out score quantiles stored with
        the fit (`meta.score_quantiles`: the 0th..100th percentiles of validation answers under the default
        sampler); the fitted `threshold` when there are none."""
        q = self.meta.get("score_quantiles")
        if not q:
            return self.threshold
        return float(np.interp(1.0 - rate, np.linspace(0.0, 1.0, len(q)), q))

    def to_json(self) -> str:
        raw = asdict(self)
        probe = raw.pop("probe")
        text = json.dumps(raw, indent=2)
        if probe is None:
            return text + "\n"
        # The probe's vectors (n_embd values each) on one line apiece, not one line per value.
        vectors = {k: probe.pop(k) for k in ("mean", "scale", "weights", "score_quantiles")}
        body = json.dumps(probe, indent=2).replace("\n", "\n  ")[:-1].rstrip()
        body += "".join(f',\n    "{k}": {json.dumps([float(f"{float(x):.7g}") for x in v])}' for k, v in vectors.items())
        return text[:-2] + ',\n  "probe": ' + body + "\n  }\n}\n"

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Raises ValueError (json.JSONDecodeError included) for a malformed file, OSError if unreadable."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        for key in ("features", "mean", "scale", "weights"):
            raw[key] = tuple(raw[key])
        if raw.get("probe") is not None:
            raw["probe"] = Probe.from_dict(raw["probe"])
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


def threshold_for_rate(scores: Sequence[float], rate: float) -> float:
    """The smallest threshold for which at most `rate` of `scores` lie strictly above it."""
    ordered = sorted(scores, reverse=True)
    k = math.floor(rate * len(ordered))
    if k <= 0:
        return float(ordered[0]) if ordered else 1.0
    if k >= len(ordered):
        return float(ordered[-1]) - 1e-9
    return float(ordered[k])
