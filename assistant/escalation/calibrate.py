"""Calibration: run the local model over graded questions, measure how well each signal predicts a wrong
answer (AUROC), fit the combined score, estimate its AUROC honestly (cross-validated) and suggest the
threshold that escalates a target share of answers. Used by `hearth calibrate`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..engine.events import ChatMessage, TokenEvent
from ..engine.sampling import SamplingParams
from ..errors import InvalidRequestError
from .defaults import Mode
from .scoring import Calibration, auroc, cross_validated_scores, fit_calibration
from .signals import RISK_SIGN, SIGNALS, compute_signals

CV_SEEDS = 5
"""Independent 5-fold splits whose out-of-fold AUROCs are averaged."""


@dataclass(frozen=True)
class Question:
    """One graded question."""

    id: str
    """Identifier from the data set (line number if absent)."""
    question: str
    """What the user asks."""
    answers: tuple[str, ...]
    """Accepted answers; the reply is right if it contains one as a whole word (case-insensitive)."""


@dataclass(frozen=True)
class Graded:
    """The local model's answer to one question."""

    question: Question
    """The question."""
    text: str
    """The answer text."""
    wrong: int
    """1 if no accepted answer appears in the text."""
    tokens: tuple[TokenEvent, ...]
    """The answer's tokens with their log-probabilities."""


def load_dataset(path: Path) -> list[Question]:
    """JSON lines with `question` and `answers` (a list of strings)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the data set {path}: {exc.strerror}",
                                  param="dataset") from None
    out = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answers = tuple(str(a) for a in row["answers"])
            out.append(Question(str(row.get("id", no)), str(row["question"]), answers))
        except (ValueError, KeyError, TypeError):
            raise InvalidRequestError(f"{path}:{no}: expected a JSON object with `question` and a list of "
                                      "`answers`", param="dataset") from None
    if len(out) < 10:
        raise InvalidRequestError(f"{path}: calibration needs at least 10 questions, found {len(out)}",
                                  param="dataset")
    return out


def is_correct(text: str, answers: Sequence[str]) -> bool:
    plain = text.lower().replace(",", "")  # "1,482" counts as 1482
    return any(re.search(r"(?<!\w)" + re.escape(a.lower()) + r"(?!\w)", plain) for a in answers)


def calibration_params(max_tokens: int) -> SamplingParams:
    """Greedy and seeded, so a calibration run is reproducible; two alternatives per token for the margin."""
    return SamplingParams(temperature=0.0, seed=0, max_tokens=max_tokens, top_logprobs=2)


def grade(questions: Sequence[Question], answer: Callable[[list[ChatMessage]], tuple[str, list]],
          progress: Callable[[int, int], None] | None = None) -> list[Graded]:
    """Answer each question with `answer(messages) -> (text, token events)` and grade it."""
    out = []
    for i, q in enumerate(questions):
        text, tokens = answer([ChatMessage("user", q.question)])
        out.append(Graded(q, text, 0 if is_correct(text, q.answers) else 1, tuple(tokens)))
        if progress:
            progress(i + 1, len(questions))
    return out


def report(graded: Sequence[Graded], windows: Mapping[Mode, int], target_rate: float,
           model: str) -> tuple[dict, dict[Mode, Calibration]]:
    """The calibration report and one fit per mode. Top-level keys (`auroc`, `combined_auroc`, `threshold`,
    ...) describe the streaming decision window; `complete` holds the same for non-streamed answers."""
    wrong = [g.wrong for g in graded]
    if not 2 <= sum(wrong) <= len(wrong) - 2:
        raise InvalidRequestError(
            f"the local model got {len(wrong) - sum(wrong)} of {len(wrong)} questions right; calibration "
            "needs at least two right and two wrong answers", param="dataset")
    data: dict = {"model": model, "n": len(graded), "accuracy": _round(1 - sum(wrong) / len(wrong)),
                  "target_rate": target_rate}
    fits: dict[Mode, Calibration] = {}
    for mode in ("stream", "complete"):
        part, cal = _fit_mode(graded, windows[mode], target_rate)
        cal = Calibration(cal.features, cal.mean, cal.scale, cal.weights, cal.bias, cal.threshold, cal.window,
                          {"model": model, "mode": mode, "n": len(graded), "accuracy": data["accuracy"],
                           "date": datetime.now(timezone.utc).date().isoformat(), **part})
        fits[mode] = cal
        if mode == "stream":
            data.update(part)
        else:
            data["complete"] = part
    return data, fits


def _fit_mode(graded: Sequence[Graded], window: int, target_rate: float,
              features: Sequence[str] = SIGNALS) -> tuple[dict, Calibration]:
    rows = [compute_signals(g.tokens[:window]) for g in graded]
    wrong = [g.wrong for g in graded]
    per_signal = {s: _round(auroc([RISK_SIGN[s] * r[s] for r in rows], wrong)) for s in SIGNALS}
    cv = [auroc(cross_validated_scores(rows, wrong, features, seed=seed), wrong) for seed in range(CV_SEEDS)]
    cal = fit_calibration(rows, wrong, features, window, target_rate)
    scores = [cal.score(r) for r in rows]
    escalated = [s > cal.threshold for s in scores]
    n_esc = sum(escalated)
    caught = sum(1 for e, w in zip(escalated, wrong) if e and w)
    part = {
        "window": window, "auroc": per_signal, "combined_auroc": _round(float(np.mean(cv))),
        "combined_auroc_cv_std": _round(float(np.std(cv))),
        "combined_auroc_in_sample": _round(auroc(scores, wrong)),
        "threshold": _round(cal.threshold, 6), "escalation_rate": _round(n_esc / len(graded)),
        "escalated_precision": _round(caught / n_esc) if n_esc else None,
        "wrong_caught": _round(caught / sum(wrong)) if sum(wrong) else None,
    }
    return part, cal


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)
