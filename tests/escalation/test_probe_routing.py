"""The answer hidden-state probe in the serving path: the real Assistant and default model, the fake cloud
over HTTP. Whole answers (`complete`), whose window is the one the shipped probe was fit for."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage
from assistant.engine.llamacpp_embed import HiddenStates
from assistant.engine.sampling import SamplingParams
from assistant.escalation.defaults import CALIBRATION_DIR, FILES

from .cloud_server import PREFIX

GREEDY = SamplingParams(temperature=0.0, max_tokens=24, seed=0)
WRONG = "What is 4817 times 293?"
"""Arithmetic: the default model is always wrong, and the probe knows it (P(wrong) near 1)."""
RIGHT = "What is the capital of France?"


def ask(text: str) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], params=GREEDY)


def test_a_request_escalates_by_the_answer_probe(make_assistant, engine, cloud) -> None:
    watch = make_assistant(escalation={"complete_threshold": 1.0})  # never escalates: shows the scores
    assert "complete" in watch.escalator.probes and "complete" not in watch.escalator.probe_off
    # Both answers below are decoded from an empty prompt cache: a cache hit prefills in other batch sizes, whose
    # kernels can turn a near tie the other way (the README's caveat on `seed`), and the two must be one answer.
    engine.reset()  # safe: the scheduler's loop is idle between requests
    seen = watch.complete(ask(WRONG))
    s = seen.decision.signals
    assert seen.decision.route == "local" and s["threshold"] == 1.0 and s["probe_ms"] > 0
    # The score is the probe's on the answer's states as calibration recorded them (one pass, in a context of
    # its own).
    probe = watch.escalator.probes["complete"]
    prompt = engine.prompt_tokens([ChatMessage("user", WRONG)])
    ids = [t.token_id for t in seen.tokens[:watch.escalator.windows["complete"]]]

    def offline_state():
        with HiddenStates(engine.model_handle, n_ctx=512, n_threads=1) as hidden:
            states, _ = hidden.run(prompt + ids, list(range(len(prompt), len(prompt) + len(ids))))
        return states.mean(axis=0)

    offline = probe.score(watch.scheduler.call(offline_state, timeout=300))
    assert s["score"] == pytest.approx(offline, abs=2e-3)
    # A threshold between the probe's score and the distribution fit's: the request goes where the probe says.
    assert abs(s["score"] - s["fit_score"]) > 0.04  # arithmetic: the probe is surer than the fit it is wrong
    between = (s["score"] + s["fit_score"]) / 2
    decider = make_assistant(escalation={"complete_threshold": between})
    engine.reset()
    reply = decider.complete(ask(WRONG))
    decided = reply.decision.signals
    assert decided["fit_score"] == pytest.approx(s["fit_score"], abs=1e-3)  # the same greedy answer
    assert decided["score"] == pytest.approx(s["score"], abs=2e-3)
    if s["score"] > between:
        assert reply.decision.route == "cloud" and reply.decision.reasons == ("low_confidence",)
        assert reply.text == PREFIX + WRONG and len(cloud.received) == 1
    else:
        assert reply.decision.route == "local" and cloud.received == []


def test_a_probe_fit_for_another_model_falls_back_to_the_distribution_fit(make_assistant, tmp_path: Path,
                                                                          caplog) -> None:
    other = tmp_path / "calibration"
    other.mkdir()
    for name in FILES.values():
        raw = json.loads((CALIBRATION_DIR / name).read_text())
        raw["probe"].update(model="some-other-model", sha256="0" * 64)  # a fine-tune: same shape, other file
        (other / name).write_text(json.dumps(raw))
    with caplog.at_level(logging.WARNING, logger="hearth.escalation"):
        # The calibration's own windows (the fixture's streamed window of 4 switches the probe off anyway).
        assistant = make_assistant(escalation={"calibration_dir": str(other), "decision_window": None})
    assert assistant.escalator.probes == {}
    assert all("some-other-model" in why for why in assistant.escalator.probe_off.values())
    assert "some-other-model" in caplog.text and "distribution fit" in caplog.text
    reply = assistant.complete(ask(RIGHT))
    s = reply.decision.signals
    cal = assistant.escalator.calibrations["complete"]
    assert "probe_ms" not in s and "fit_score" not in s
    assert s["threshold"] == pytest.approx(cal.threshold_for(assistant.settings.escalation.target_rate))
    assert (reply.decision.route == "cloud") == (s["score"] > s["threshold"])


def test_a_backend_without_hidden_states_uses_the_distribution_fit(make_assistant, engine,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(engine, "capabilities", dataclasses.replace(engine.capabilities, hidden_states=False))
    assistant = make_assistant(escalation={"decision_window": None})
    assert assistant.escalator.probes == {} and not assistant.escalator.wants_prompt("complete")
    assert set(assistant.escalator.probe_off.values()) == {"the engine's backend does not give hidden states"}
    cal = assistant.escalator.calibrations["stream"]
    assert assistant.escalator.thresholds["stream"] == pytest.approx(cal.threshold_for(0.3))
