"""The combined score's math and the shipped calibration."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.engine.events import TokenEvent, TopLogprob
from assistant.errors import InvalidRequestError
from assistant.escalation.heldout import Rows, fit_combination, require_both_outcomes
from assistant.escalation.router import Escalator
from assistant.escalation.scoring import Calibration, Probe, auroc, load_calibration, threshold_for_rate
from assistant.escalation.signals import DISTRIBUTION_SIGNALS, SIGNALS, compute_signals
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


def _rows(signals: list[dict], wrong: list[int]) -> Rows:
    n = len(wrong)
    return Rows([str(i) for i in range(n)], ["k"] * n, ["fact"] * n, [0] * n, np.array(wrong), signals, {})


def test_held_out_fit_separates_and_keeps_every_weight_readable() -> None:
    rng = np.random.default_rng(1)

    def rows(n: int) -> Rows:
        wrong = [int(i % 3 != 0) for i in range(n)]
        entropy = [w * 1.5 + rng.normal() for w in wrong]
        # max_entropy tracks mean_entropy closely but, given it, leans the other way: a free fit would give
        # it a negative weight (more entropy = more confident), which nobody could read.
        return _rows([{"mean_entropy": e, "max_entropy": e + 0.3 * rng.normal() - 0.4 * w}
                      for e, w in zip(entropy, wrong)], wrong)

    train, val, test = rows(300), rows(120), rows(120)
    cal = fit_combination(("mean_entropy", "max_entropy"), train, val, 4, 0.3)
    assert cal.weights[0] > 0 and cal.weights[1] >= 0
    assert auroc([cal.score(r) for r in test.signals], test.wrong) > 0.8
    rate = np.mean([cal.score(r) > cal.threshold for r in val.signals])
    assert rate == pytest.approx(0.3, abs=0.01)  # the threshold comes from validation
    free = fit_combination(("mean_entropy", "max_entropy"), train, val, 4, 0.3, signed=False)
    assert free.weights[1] < 0


def test_a_fit_refuses_a_split_without_two_right_and_two_wrong() -> None:
    from assistant.escalation.sweep import Question, Sample

    questions = {f"{split}{i}": Question(f"{split}{i}", "q", (), None, "k", "g", split, 0)
                 for split in ("train", "validation", "test") for i in range(4)}
    samples = [Sample(qid, 0, "a", int(qid[-1]) % 2, [], 1.0) for qid in questions]
    require_both_outcomes(samples, questions, "answers")  # two of each everywhere
    samples[-1] = Sample("test3", 0, "a", 0, [], 1.0)  # test: three right, one wrong
    with pytest.raises(InvalidRequestError, match="the test split has 3 right and 1 wrong answers"):
        require_both_outcomes(samples, questions, "answers")


def test_threshold_for_rate() -> None:
    scores = [i / 10 for i in range(10)]
    t = threshold_for_rate(scores, 0.3)
    assert sum(s > t for s in scores) == 3
    assert sum(s > threshold_for_rate(scores, 0.0) for s in scores) == 0
    assert sum(s > threshold_for_rate(scores, 1.0) for s in scores) == 10


def test_distribution_signals_ignore_which_token_was_sampled() -> None:
    top = (TopLogprob(1, b"x", -0.2), TopLogprob(2, b"y", -1.9))
    picked_best = [TokenEvent(1, b"x", -0.2, top, 0.7)] * 4
    picked_other = [TokenEvent(2, b"y", -1.9, top, 0.7)] * 4  # a hot sampler drew the runner-up
    a, b = compute_signals(picked_best), compute_signals(picked_other)
    assert all(a[name] == pytest.approx(b[name]) for name in DISTRIBUTION_SIGNALS)
    assert a["mean_logprob"] != b["mean_logprob"]  # the sampled-token signals do move
    assert a["mean_gap"] == pytest.approx(1.7) and a["min_top1"] == pytest.approx(-0.2)


def test_threshold_for_reads_the_held_out_quantiles() -> None:
    quantiles = np.linspace(0.1, 0.9, 101).tolist()  # scores spread evenly from 0.1 to 0.9
    cal = Calibration(("a",), (0.0,), (1.0,), (1.0,), 0.0, 0.42, 4, {"score_quantiles": quantiles})
    assert cal.threshold_for(0.3) == pytest.approx(0.66)
    assert cal.threshold_for(0.0) == pytest.approx(0.9) and cal.threshold_for(1.0) == pytest.approx(0.1)
    bare = Calibration(("a",), (0.0,), (1.0,), (1.0,), 0.0, 0.42, 4)
    assert bare.threshold_for(0.3) == 0.42


def test_a_probe_round_trips_and_refuses_another_model(tmp_path) -> None:
    probe = Probe("m", "Q4_1", 3, (0.0, 1.0, 2.0), (1.0, 2.0, 1.0), (0.5, -1.0, 0.25), 0.1, 0.6,
                  tuple(np.linspace(0.2, 0.8, 101).round(3).tolist()), "ab" * 32, {"l2": 10.0})
    # z = 0.1 + 0.5 * 1 - 1.0 * (3 - 1) / 2 + 0.25 * 0 = -0.4
    assert probe.score([1.0, 3.0, 2.0]) == pytest.approx(1 / (1 + np.exp(0.4)))
    assert probe.threshold_for(0.3) == pytest.approx(0.62)
    cal = Calibration(("a",), (0.0,), (1.0,), (1.0,), 0.0, 0.42, 4, {}, probe)
    path = tmp_path / "cal.json"
    path.write_text(cal.to_json())
    back = Calibration.load(path)
    assert back == cal and back.probe.score([1.0, 3.0, 2.0]) == probe.score([1.0, 3.0, 2.0])
    assert probe.mismatch("m", "Q4_1", 3, lambda: "ab" * 32) is None
    assert probe.mismatch("loaded-by-path", "Q4_1", 3, lambda: "ab" * 32) is None  # the file decides
    assert "sha256" in probe.mismatch("m", "Q4_1", 3, lambda: "cd" * 32)
    assert "hidden size 3" in probe.mismatch("m", "Q4_1", 4, lambda: "ab" * 32)
    assert "Q4_1" in probe.mismatch("m", "Q8_0", 3)
    assert probe.mismatch("m", "Q4_1", 3) is None and "m" in probe.mismatch("x", "Q4_1", 3)  # no sha: the id


@pytest.mark.parametrize("mode,window", [("stream", "decision_window"), ("complete", "complete_window")])
def test_shipped_calibration_is_held_out_and_the_settings_default(mode: str, window: str) -> None:
    cal = load_calibration(mode)
    assert cal.features == DISTRIBUTION_SIGNALS  # sampler-independent signals only
    assert len(cal.features) == len(cal.weights) == len(cal.mean) == len(cal.scale)
    settings = load_settings().escalation
    assert settings.threshold is None and settings.complete_threshold is None and settings.target_rate == 0.3
    assert getattr(settings, window) is None  # unset: the window the calibration was fit for
    # Under the sampler that serves, each answer with a seed of its own (from its question and repeat index).
    assert cal.meta["sampler"] == "default" and cal.meta["seed_per_answer"].startswith("sweep.answer_seed")
    assert cal.meta["threshold_from"].startswith("validation") and cal.meta["fit"].startswith("train")
    q = cal.meta["score_quantiles"]
    assert len(q) == 101 and q == sorted(q)
    escalator = Escalator(load_settings())
    assert escalator.thresholds[mode] == pytest.approx(cal.threshold_for(0.3))
    assert escalator.windows[mode] == cal.window
    assert Escalator(load_settings(escalation={window: 5})).windows[mode] == 5
