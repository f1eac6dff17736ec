"""Fit on `train`, pick the threshold on `validation`, judge on `test`: the held-out protocol behind
`hearth calibrate` and the shipped calibration. Splits come from the data set (by phrasing template and
entity), so the test numbers are for questions worded in ways the fit never saw.

Rows are answers (question x seed); every score is oriented so that higher means "more likely wrong"."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidRequestError
from . import evaluate as E
from .grading import agreement
from .scoring import Calibration, fit_logistic, threshold_for_rate
from .signals import RISK_SIGN, compute_signals
from .sweep import Question, Sample

SPLITS = ("train", "validation", "test")
"""The held-out protocol's splits, in the order they are used."""

L2_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0)
"""Ridge strengths tried for each fit; the one with the best validation AUROC wins. The top of the grid is
for the answer probe (576 hidden dimensions, a few hundred training answers): it chose 1000, the largest of
the first grid, on the first 449 questions."""


@dataclass
class Rows:
    """Feature rows of one split (aligned lists)."""

    qids: list[str]
    kinds: list[str]
    groups: list[str]
    seeds: list[int]
    wrong: np.ndarray
    signals: list[dict[str, float]]
    states: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.qids)


def require_both_outcomes(samples: Sequence[Sample], questions: Mapping[str, Question], what: str) -> None:
    """Every split has at least two right and two wrong `what` (answers, calls): fewer leaves a fit nothing to
    learn and a held-out number nothing to judge.

    Raises InvalidRequestError naming the first split that falls short and its counts."""
    for split in SPLITS:
        wrong = [s.wrong for s in samples if questions[s.qid].split == split]
        if sum(wrong) < 2 or len(wrong) - sum(wrong) < 2:
            raise InvalidRequestError(f"the {split} split has {len(wrong) - sum(wrong)} right and {sum(wrong)} "
                                      f"wrong {what}; a fit needs at least two of each in every split",
                                      param="dataset")


def build_rows(samples: Sequence[Sample], questions: Mapping[str, Question], split: str, window: int | None,
               probed: bool = False) -> Rows:
    """Rows of `split`: window signals (`window` tokens; None: the whole answer), agreement with the other
    seeds' answers, the self-check, and (`probed`: only the answers that have them) hidden states."""
    by_q: dict[str, list[Sample]] = {}
    for s in samples:
        by_q.setdefault(s.qid, []).append(s)
    chosen = [s for s in samples if questions[s.qid].split == split and (s.states or not probed)]
    signals = []
    for s in chosen:
        row = compute_signals(s.tokens[:window] if window else s.tokens)
        others = [o.text for o in by_q[s.qid] if o.seed != s.seed]
        row["agreement"] = agreement(s.text, others) if others else 0.5
        row["self_check"] = s.p_yes if s.p_yes is not None else 0.5
        signals.append(row)
    keys = chosen[0].states.keys() if probed and chosen else ()
    states = {k: np.stack([s.states[k] for s in chosen]) for k in keys}
    return Rows([s.qid for s in chosen], [questions[s.qid].kind for s in chosen],
                [questions[s.qid].group for s in chosen], [s.seed for s in chosen],
                np.array([s.wrong for s in chosen]), signals, states)


EXTRA_SIGN = {"agreement": -1.0, "self_check": -1.0}


def _sign(name: str) -> float:
    """+1 if a larger value of `name` means more likely wrong (probe logits already do)."""
    return RISK_SIGN.get(name, EXTRA_SIGN.get(name, 1.0))


def risk(rows: Rows, name: str) -> np.ndarray:
    """A single signal, oriented so higher means more likely wrong."""
    return _sign(name) * np.array([r[name] for r in rows.signals])


def fit_probe(train: np.ndarray, y: np.ndarray, val: np.ndarray, y_val: np.ndarray) \
        -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """A ridge logistic regression on standardised features, its strength chosen on validation AUROC.
    Returns the scorer (logit of P(wrong)) and the fitted parameters."""
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale < 1e-6] = 1.0
    xs, xv = (train - mean) / scale, (val - mean) / scale
    best = None
    for l2 in L2_GRID:
        w, b = fit_logistic(xs, y.astype(float), l2)
        value = E.auroc(xv @ w + b, y_val)
        if best is None or value > best[0]:
            best = (value, l2, w, b)
    _, l2, w, b = best
    params = {"mean": mean, "scale": scale, "weights": w, "bias": b, "l2": l2}
    return (lambda x: ((x - mean) / scale) @ w + b), params


def out_of_fold(train: np.ndarray, y: np.ndarray, qids: Sequence[str], l2: float, folds: int = 5) -> np.ndarray:
    """Probe logits for training rows from fits that never saw their question (for stacking)."""
    names = sorted(set(qids))
    fold_of = {q: i % folds for i, q in enumerate(np.random.default_rng(0).permutation(names))}
    f = np.array([fold_of[q] for q in qids])
    out = np.zeros(len(y))
    for k in range(folds):
        tr, te = f != k, f == k
        mean, scale = train[tr].mean(axis=0), train[tr].std(axis=0)
        scale[scale < 1e-6] = 1.0
        w, b = fit_logistic((train[tr] - mean) / scale, y[tr].astype(float), l2)
        out[te] = ((train[te] - mean) / scale) @ w + b
    return out


def fit_combination(features: Sequence[str], train: Rows, val: Rows, window: int, target_rate: float,
                    signed: bool = True) -> Calibration:
    """The combined score on `features` (signal names present in the rows), fit on train with the ridge
    strength that is best on validation; its threshold escalates `target_rate` of the validation answers,
    and the validation score quantiles ship with it so any other target rate can be served.

    `signed`: a feature whose weight comes out against its signal's meaning (e.g. more entropy reading as
    more confident, which only happens through correlated features) is dropped and the rest refit, so every
    weight can be read; dropped features keep a zero weight."""
    features = tuple(features)
    keep = list(features)
    while True:
        x_tr = np.array([[r[f] for f in keep] for r in train.signals])
        x_va = np.array([[r[f] for f in keep] for r in val.signals])
        _, params = fit_probe(x_tr, train.wrong, x_va, val.wrong)
        wrong_way = [f for f, w in zip(keep, params["weights"]) if signed and w * _sign(f) < 0]
        if not wrong_way or len(keep) == 1:
            break
        keep.remove(min(wrong_way, key=lambda f: abs(params["weights"][keep.index(f)])))
    full = {f: (m, sd, w) for f, m, sd, w in zip(keep, params["mean"], params["scale"], params["weights"])}
    mean = np.array([full.get(f, (0.0, 1.0, 0.0))[0] for f in features])
    scale = np.array([full.get(f, (0.0, 1.0, 0.0))[1] for f in features])
    params["weights"] = np.array([full.get(f, (0.0, 1.0, 0.0))[2] for f in features])
    params["mean"], params["scale"] = mean, scale
    cal = Calibration(tuple(features), tuple(params["mean"].tolist()), tuple(params["scale"].tolist()),
                      tuple(params["weights"].tolist()), float(params["bias"]), 0.5, window)
    val_scores = [cal.score(r) for r in val.signals]
    quantiles = np.quantile(val_scores, np.linspace(0, 1, 101)).round(6).tolist()
    threshold = threshold_for_rate(val_scores, target_rate)
    return Calibration(cal.features, cal.mean, cal.scale, cal.weights, cal.bias, threshold, window,
                       {"l2": params["l2"], "score_quantiles": quantiles})


def fit_state_probe(train: Rows, val: Rows, key: str, target_rate: float) -> dict:
    """The answer probe on hidden states `key` (e.g. `answer_all`): ridge strength best on validation AUROC,
    threshold escalating `target_rate` of validation answers, and the validation score quantiles (0..100th
    percentile of P(wrong)) that serve any other target rate. Returns the parameters (numpy arrays) and
    `score`, a function from states (answers x n_embd) to P(wrong)."""
    logit, params = fit_probe(train.states[key], train.wrong, val.states[key], val.wrong)

    def score(states: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(logit(states), -60.0, 60.0)))

    val_scores = score(val.states[key])
    params["score_quantiles"] = np.quantile(val_scores, np.linspace(0, 1, 101)).round(6)
    params["threshold"] = threshold_for_rate(val_scores.tolist(), target_rate)
    params["score"] = score
    return params


def judge(scores: np.ndarray, rows: Rows, threshold: float | None = None) -> dict:
    """Held-out numbers of one score: AUROC overall / facts / per kind with 95% intervals, deferral curve,
    the share that recovers 80% of the gap, and (with a threshold) the escalation rate per seed."""
    out: dict = {"n": len(rows), "accuracy": round(float(1 - rows.wrong.mean()), 4)}
    a, lo, hi = E.bootstrap_auroc(scores, rows.wrong, rows.qids)
    out["auroc"] = [round(a, 4), round(lo, 4), round(hi, 4)]
    kinds: dict = {}
    for kind in sorted(set(rows.kinds)):
        m = np.array([k == kind for k in rows.kinds])
        a, lo, hi = E.bootstrap_auroc(scores[m], rows.wrong[m], np.asarray(rows.qids)[m])
        kinds[kind] = [_r(a), _r(lo), _r(hi)] + [round(float(1 - rows.wrong[m].mean()), 3), int(m.sum())]
    out["per_kind"] = kinds
    # Fact kinds: every question looked up (capitals, currencies, ...); `dates` mixes in computed ones.
    facts = [k for k in kinds if all(g == "fact" for g, kk in zip(rows.groups, rows.kinds) if kk == k)]
    within = [kinds[k][0] for k in facts if kinds[k][0] is not None]
    out["within_fact_kinds_mean"] = _r(float(np.mean(within))) if within else None
    m = np.array([g == "fact" for g in rows.groups])
    a, lo, hi = E.bootstrap_auroc(scores[m], rows.wrong[m], np.asarray(rows.qids)[m])
    out["facts_pooled"] = [_r(a), _r(lo), _r(hi)]
    out["deferral"] = [[round(s, 3), round(acc, 4)] for s, acc in E.deferral_curve(scores, rows.wrong)]
    out["share_for_80pct_gap"] = round(E.share_to_recover(scores, rows.wrong), 4)
    out["oracle_share_for_80pct_gap"] = round(E.oracle_share(rows.wrong), 4)
    if threshold is not None:
        seeds = np.asarray(rows.seeds)
        out["escalation_rate"] = round(E.escalation_rate(scores, threshold), 4)
        out["escalation_rate_per_seed"] = {int(s): round(E.escalation_rate(scores[seeds == s], threshold), 4)
                                           for s in sorted(set(rows.seeds))}
    return out


def _r(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
