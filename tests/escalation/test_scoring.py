"""The combined score's math and the shipped calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.engine.events import TokenEvent, TopLogprob
from assistant.escalation.defaults import calibration_file
from assistant.escalation.scoring import (
    auroc,
    cross_validated_scores,
    fit_calibration,
    load_calibration,
    threshold_for_rate,
)
from assistant.escalation.signals import SIGNALS, compute_signals
from assistant.settings import load_settings


def test_auroc_known_values() -> None:
    assert auroc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
    assert auroc([0.5, 0.5], [1, 0]) == 0.5
    assert auroc([3, 1, 2, 0], [1, 0, 0, 1]) == pytest.approx(0.5)


def test_signals_of_a_known_sequence() -> None:
    lps = [-0.1, -2.0, -0.2, -0.3, -4.0]
    tokens = [
        TokenEvent(1, b"x", lp, (TopLogprob(1, b"x", lp), TopLogprob(2, b"y", lp - 1.0)), 0.5) for lp in lps
    ]
    s = compute_signals(tokens)
    assert s["mean_logprob"] == pytest.approx(np.mean(lps))
    assert s["min_logprob"] == -4.0
    assert s["nll"] == pytest.approx(-sum(lps))
    assert s["window_min"] == pytest.approx((-0.2 - 0.3 - 4.0) / 3)
    assert s["mean_entropy"] == pytest.approx(0.5)
    assert s["mean_margin"] == pytest.approx(1.0)
    assert set(compute_signals([])) == set(SIGNALS)


def test_fit_separates_and_cross_validation_is_honest() -> None:
    rng = np.random.default_rng(1)
    wrong = [int(i % 3 != 0) for i in range(90)]
    rows = [{"a": w * 1.5 + rng.normal(), "b": rng.normal()} for w in wrong]
    cal = fit_calibration(rows, wrong, ("a", "b"), window=4, target_rate=0.5)
    assert abs(cal.weights[0]) > abs(cal.weights[1])
    assert auroc([cal.score(r) for r in rows], wrong) > 0.8
    noise = [{"a": rng.normal(), "b": rng.normal()} for _ in wrong]
    assert (
        auroc(cross_validated_scores(noise, wrong, ("a", "b")), wrong) < 0.7
    )  # no leak from fitting on itself


def test_threshold_for_rate() -> None:
    scores = [i / 10 for i in range(10)]
    t = threshold_for_rate(scores, 0.3)
    assert sum(s > t for s in scores) == 3
    assert sum(s > threshold_for_rate(scores, 0.0) for s in scores) == 0
    assert sum(s > threshold_for_rate(scores, 1.0) for s in scores) == 10


@pytest.mark.parametrize("mode,field", [("stream", "threshold"), ("complete", "complete_threshold")])
def test_shipped_calibration_is_the_settings_default(mode: str, field: str) -> None:
    cal = load_calibration(mode)
    raw = json.loads(calibration_file(mode).read_text())
    assert cal.features and len(cal.features) == len(cal.weights) == len(cal.mean) == len(cal.scale)
    assert set(cal.features) <= set(SIGNALS)
    settings = load_settings().escalation
    assert getattr(settings, field) == pytest.approx(raw["threshold"])
    assert (settings.decision_window if mode == "stream" else settings.complete_window) == raw["window"]
    # The combined score beats the naive minimum log-probability, cross-validated.
    assert raw["meta"]["combined_auroc"] > raw["meta"]["auroc"]["min_logprob"]
    assert raw["meta"]["combined_auroc"] > 0.7
    assert 0.0 < cal.threshold < 1.0 and any(w != 0 for w in cal.weights)
