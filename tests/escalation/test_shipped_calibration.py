"""The shipped calibration, re-measured: the real default model answers a small fixed subset of the held-out
(test) questions under the default sampler, and the shipped scores (the answer hidden-state probe, read
through the serving path, and the distribution fit it falls back to) must still separate its wrong answers
from its right ones and escalate about the target share. Nothing here is read back from the calibration's
metadata."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.engine.events import ChatMessage
from assistant.escalation.calibrate import DATASET, load_dataset
from assistant.escalation.evaluate import auroc
from assistant.escalation.probe import AnswerStates, model_sha256
from assistant.escalation.scoring import load_calibration
from assistant.escalation.signals import compute_signals
from assistant.escalation.sweep import Collector
from assistant.scheduler import Scheduler

PER_KIND = 5
"""Test-split questions per kind (9 kinds: 45 answers of up to 24 tokens; ~25 s on a quiet machine, plus one
hidden-state pass per answer for the probe)."""
TARGET = 0.3
AUROC_FLOOR = {"stream": 0.5, "complete": 0.45}
"""For the distribution fit (now the fallback where no hidden states are available). On this subset, answered
with the seeds calibration used (docs/escalation-calibration/calibration.md), it measured 0.55 streamed and 0.52
whole: it separates these 45 answers barely (0.64 and 0.60 on the whole test split). The floors catch only a
grossly broken score (an inverted one reads 0.45-0.48)."""
PROBE_FLOOR = {"stream": 0.7, "complete": 0.75}
"""For the answer probe, below what it measured on this subset (0.83 streamed, 0.87 whole; 0.83 and 0.84 on the
whole test split): a probe read from the wrong positions or another model's states lands near 0.5."""
RATE_TOLERANCE = {"fit": 0.25, "probe": 0.15}
"""Around the 30% target. The probe's thresholds escalated 22% and 27% of this subset (28% and 32% of the whole
test split); the distribution fit's 11% and 9% (22% and 20% of the test split: its score distribution shifts
with the phrasing templates, and validation's escalates less than test's). A threshold read from the wrong
quantiles (or their complement: 70%) lands outside."""


def fixed_subset():
    chosen: dict[str, list] = {}
    for q in load_dataset(DATASET):
        if q.split == "test" and len(chosen.setdefault(q.kind, [])) < PER_KIND:
            chosen[q.kind].append(q)
    return [q for qs in chosen.values() for q in qs]


@pytest.fixture(scope="module")
def answers(engine):
    # From an empty prompt cache, so the sample does not depend on which tests ran before (a cache hit can
    # turn a near tie the other way, and a sampled answer then runs on differently).
    engine.reset()
    collector = Collector(engine, max_tokens=load_calibration("complete").window)
    # Repeat 0 of every question, sampled with the seed calibration used for it (derived from the question
    # id): a seed per question, as serving draws a fresh one per request.
    questions = fixed_subset()
    samples = [collector.answer(q, 0) for q in questions]
    # The probe's states through the serving path: a second context on the loop thread of the model's
    # scheduler.
    states = AnswerStates(Scheduler.of(engine))
    try:
        for q, s in zip(questions, samples):
            prompt = engine.prompt_tokens([ChatMessage("user", q.question)])
            rows = states.answer_states(prompt, [t.token_id for t in s.tokens])  # one pass for both windows
            s.states = {mode: rows[:load_calibration(mode).window].mean(axis=0)
                        for mode in ("stream", "complete")}
    finally:
        states.close()
    return samples


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first test pays for the answers: minutes when the cores are shared
@pytest.mark.parametrize("mode", ["stream", "complete"])
def test_shipped_calibration_holds_on_held_out_questions(answers, mode: str) -> None:
    cal = load_calibration(mode)
    scores = np.array([cal.score(compute_signals(s.tokens[:cal.window])) for s in answers])
    wrong = np.array([s.wrong for s in answers])
    assert 5 <= wrong.sum() <= len(wrong) - 5  # the subset has both kinds of answer
    measured = auroc(scores, wrong)
    rate = float((scores > cal.threshold_for(TARGET)).mean())
    assert measured >= AUROC_FLOOR[mode], f"AUROC {measured:.3f}, rate {rate:.3f}"
    assert abs(rate - TARGET) <= RATE_TOLERANCE["fit"], f"AUROC {measured:.3f}, rate {rate:.3f}"
    print(f"distribution fit, {mode}: AUROC {measured:.3f}, escalated {rate:.3f}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["stream", "complete"])
def test_shipped_answer_probe_holds_on_held_out_questions(answers, engine, mode: str) -> None:
    probe = load_calibration(mode).probe
    assert probe is not None and probe.mismatch(engine.info.id, engine.info.quantization,
                                                len(answers[0].states[mode]),
                                                lambda: model_sha256(engine.info.path)) is None
    scores = np.array([probe.score(s.states[mode]) for s in answers])
    wrong = np.array([s.wrong for s in answers])
    measured = auroc(scores, wrong)
    rate = float((scores > probe.threshold_for(TARGET)).mean())
    assert measured >= PROBE_FLOOR[mode], f"AUROC {measured:.3f}, rate {rate:.3f}"
    assert abs(rate - TARGET) <= RATE_TOLERANCE["probe"], f"AUROC {measured:.3f}, rate {rate:.3f}"
    print(f"answer probe, {mode}: AUROC {measured:.3f}, escalated {rate:.3f}")
