"""The shipped tool-call calibration, re-measured: the real default model calls tools on the held-out (test)
requests of the graded tool-call set, greedy and under the default sampler, and the shipped
score must still separate its wrong calls from its right ones and escalate about the target share under each
sampler (the point of fitting it under several). Nothing here is read back from the calibration's metadata."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.escalation import tool_fit as T
from assistant.escalation.evaluate import auroc
from assistant.escalation.scoring import load_calibration
from assistant.escalation.signals import compute_signals

EVERY = 1
"""The whole test split (76 requests; 152 calls of ~30 tokens, ~2 min on a quiet machine). Half of it (every 2nd
request, 76 calls) measured AUROC 0.633-0.660 on machines where the whole split measures 0.735: an AUROC over 76
calls with ~25 wrong has a standard error near 0.07, too wide for a floor that tells a right fit from chance."""
TARGET = 0.3
AUROC_FLOOR = 0.6
"""Three standard errors (~0.045 over 152 calls with ~50 wrong, Hanley & McNeil 1982) below what the split
measures (0.735 greedy + default, 2026-12-08; 0.742 under three samplers when the calibration was shipped); a
score with no signal (AUROC 0.5) passes with probability ~2% (0.6 is two of its standard errors, ~0.05, above
0.5), one with its signs flipped (~0.26) never."""
RATE_TOLERANCE = 0.15
"""Around the 30% target, per sampler. The split escalated 32.9% (greedy) and 27.6% (default) on 2026-12-08
(32.9% and 26.3% when the calibration was shipped); a threshold read from the wrong quantiles (or
their complement: 70%), or a fit under the default sampler only (it escalated 2.4% of greedy calls), lands
outside."""


def collect(assistant) -> dict[str, list]:
    cases = [c for c in T.load_tool_set() if c.split == "test"][::EVERY]
    return {sampler: T.collect(assistant, cases, 1, samplers=(sampler,)) for sampler in ("greedy", "default")}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_shipped_tool_calibration_holds_under_each_sampler(make_assistant) -> None:
    calls = collect(make_assistant(escalation={"enabled": False}))
    cal = load_calibration("tools")
    threshold = cal.threshold_for(TARGET)
    pooled_scores, pooled_wrong = [], []
    for sampler, samples in calls.items():
        scores = np.array([cal.score(compute_signals(s.tokens[:cal.window])) for s in samples])
        rate = float((scores > threshold).mean())
        print(f"{sampler}: escalated {rate:.3f} of {len(samples)} calls")
        assert abs(rate - TARGET) <= RATE_TOLERANCE, f"{sampler}: escalated {rate:.3f}"
        pooled_scores += list(scores)
        pooled_wrong += [s.wrong for s in samples]
    wrong = np.array(pooled_wrong)
    assert 5 <= wrong.sum() <= len(wrong) - 5  # the subset has both kinds of call
    measured = auroc(np.array(pooled_scores), wrong)
    print(f"AUROC {measured:.3f} over {len(wrong)} calls")
    assert measured >= AUROC_FLOOR, f"AUROC {measured:.3f}"
