"""Every trigger through the real Assistant and the real default model, against the fake cloud over HTTP."""

from __future__ import annotations

import time

import pytest

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage, Finish, RouteDecision, TextDelta, TokenEvent
from assistant.engine.sampling import SamplingParams
from assistant.errors import CloudError, EngineError

from .cloud_server import PREFIX, FakeCloud, Fault, refused_url
from .conftest import API_KEY, audit_records

QUESTION = "What is 39 times 38?"
SHORT = SamplingParams(temperature=0.0, max_tokens=10, seed=0)


def ask(text: str = QUESTION, **kw) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], params=kw.pop("params", SHORT), **kw)


def events_of(assistant, request) -> list:
    events = list(assistant.stream(request))
    assert isinstance(events[0], RouteDecision)
    assert sum(isinstance(e, RouteDecision) for e in events) == 1
    assert isinstance(events[-1], Finish) and sum(isinstance(e, Finish) for e in events) == 1
    return events


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def long_conversation() -> list[ChatMessage]:
    """Over the 2048-token window by one old message: truncating leaves a short prompt (fast to prefill)."""
    filler = "The quick brown fox jumps over the lazy dog near the river bank. " * 150
    return [
        ChatMessage("system", "You are terse."),
        ChatMessage("user", f"Remember this: {filler}"),
        ChatMessage("assistant", "Noted."),
        ChatMessage("user", "Summarise my notes."),
    ]


# -- explicit ------------------------------------------------------------------------------------------------
def test_explicit_route_streams_the_cloud_answer(make_assistant, cloud: FakeCloud) -> None:
    events = events_of(make_assistant(), ask(route="cloud"))
    decision = events[0]
    assert decision.route == "cloud" and decision.reasons == ("explicit",)
    assert text_of(events) == PREFIX + QUESTION
    assert not any(isinstance(e, TokenEvent) for e in events)
    assert len([e for e in events if isinstance(e, TextDelta)]) > 3  # passed through chunk by chunk
    assert len(cloud.received) == 1 and cloud.received[0].body["model"] == "big-cloud-model"


@pytest.mark.parametrize("alias", ["cloud", "big-cloud-model"])
def test_a_cloud_model_alias_is_explicit(make_assistant, cloud: FakeCloud, alias: str) -> None:
    reply = make_assistant().complete(ask(model=alias))
    assert reply.decision.route == "cloud" and reply.decision.reasons == ("explicit",)
    assert reply.text == PREFIX + QUESTION


def test_explicit_without_a_cloud_is_local_degraded(make_assistant) -> None:
    reply = make_assistant(base_url=None).complete(ask(route="cloud"))
    assert reply.decision.route == "local-degraded"
    assert reply.decision.reasons == ("explicit", "cloud_unconfigured")
    assert reply.text and reply.tokens


# -- context overflow ----------------------------------------------------------------------------------------
def test_overflow_escalates_the_whole_conversation(make_assistant, cloud: FakeCloud, engine) -> None:
    msgs = long_conversation()
    assert engine.count_tokens(msgs) > engine.info.n_ctx
    reply = make_assistant().complete(ChatRequest(messages=msgs, params=SHORT))
    assert reply.decision.route == "cloud" and reply.decision.reasons == ("context_overflow",)
    assert reply.decision.budget.dropped == () and reply.decision.budget.overflow_tokens > 0
    assert len(cloud.received[0].body["messages"]) == len(msgs)  # nothing truncated away
    assert reply.text == PREFIX + "Summarise my notes."


def test_overflow_under_privacy_never_truncates_and_says_so(make_assistant, cloud: FakeCloud) -> None:
    reply = make_assistant(privacy="never").complete(ChatRequest(messages=long_conversation(), params=SHORT))
    assert cloud.received == []
    assert reply.decision.route == "local-degraded"
    assert reply.decision.reasons == ("context_overflow", "privacy_never", "context_truncated")
    assert reply.decision.budget.truncated and reply.text


def test_overflow_with_the_cloud_down_falls_back_to_truncation(make_assistant) -> None:
    reply = make_assistant(base_url=refused_url()).complete(
        ChatRequest(messages=long_conversation(), params=SHORT)
    )
    assert reply.decision.route == "local-degraded"
    assert reply.decision.reasons == ("context_overflow", "cloud_unavailable", "context_truncated")


# -- low confidence and the decision window ------------------------------------------------------------------
def test_confident_answers_stream_locally_unchanged(make_assistant, cloud: FakeCloud) -> None:
    events = events_of(make_assistant(escalation={"threshold": 1.0}), ask())
    decision = events[0]
    assert decision.route == "local" and decision.reasons == ()
    assert {"score", "threshold", "min_logprob", "mean_entropy", "nll", "window_min"} <= set(decision.signals)
    assert cloud.received == []
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) == events[-1].usage.completion_tokens == SHORT.max_tokens  # nothing lost in the window
    assert all(t.top == () for t in tokens)  # the router's extra alternatives are not leaked
    plain = make_assistant(base_url=None).complete(ask())  # no escalation at all: the same greedy answer
    assert text_of(events) == plain.text and plain.decision.signals == {}


def test_low_confidence_switches_to_the_cloud_stream(make_assistant, cloud: FakeCloud) -> None:
    events = events_of(make_assistant(escalation={"threshold": 0.0}), ask())
    decision = events[0]
    assert decision.route == "cloud" and decision.reasons == ("low_confidence",)
    assert decision.signals["score"] > decision.signals["threshold"] == 0.0
    assert not any(isinstance(e, TokenEvent) for e in events)  # the buffered local window was dropped
    assert text_of(events) == PREFIX + QUESTION


def test_low_confidence_with_a_failing_cloud_keeps_the_local_answer(make_assistant, cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("status", 500)
    reply = make_assistant(escalation={"threshold": 0.0}, cloud={"retries": 1}).complete(ask())
    assert reply.decision.route == "local-degraded"
    assert reply.decision.reasons == ("low_confidence", "cloud_unavailable")
    assert len(reply.tokens) == SHORT.max_tokens and reply.text
    assert len(cloud.received) == 2


def test_shipped_calibrations_are_applied_per_mode(make_assistant) -> None:
    assistant = make_assistant(escalation={})
    esc = assistant.settings.escalation
    # The answer probe scores where the calibration has one for the loaded model and window (here: whole
    # answers; the streamed window of 4 is not the probe's 8). Calls are scored with the shipped tool-call fit,
    # which has no probe.
    assert sorted(assistant.escalator.probes) == ["complete"]
    tools = assistant.escalator.calibrations["tools"]
    assert tools.meta["mode"] == "tools" and tools is not assistant.escalator.calibrations["complete"]
    scores = {mode: assistant.escalator.probes.get(mode) or cal
              for mode, cal in assistant.escalator.calibrations.items()}
    streamed = events_of(assistant, ask())[0].signals
    assert streamed["threshold"] == pytest.approx(scores["stream"].threshold_for(esc.target_rate))
    completed = assistant.complete(ask())
    signals = completed.decision.signals
    assert signals["threshold"] == pytest.approx(scores["complete"].threshold_for(esc.target_rate))
    assert signals["threshold"] != streamed["threshold"]
    assert (completed.decision.route == "cloud") == (signals["score"] > signals["threshold"])
    # A non-streamed request that goes through stream() (the server's path) is scored like complete().
    served = events_of(assistant, ask(mode="complete"))[0].signals
    assert served["threshold"] == signals["threshold"] and served["score"] == pytest.approx(signals["score"])


# -- local failure -------------------------------------------------------------------------------------------
def test_local_failure_escalates(cloud: FakeCloud, engine, tmp_path) -> None:
    """A decode that fails (injected into a second real engine: llama.cpp fails on demand only when broken) sends the
    request to the cloud; with privacy `never` the error surfaces. A busy model is not a failure (test_scheduler)."""
    from assistant.assistant import Assistant
    from assistant.runtime import load_engine
    from assistant.scheduler import Scheduler
    from assistant.settings import load_settings

    def make(**overrides) -> Assistant:
        settings = load_settings(model=str(engine.info.path), home=tmp_path, engine={"parallel": 1, "n_ctx": 512},
                                 cloud={"base_url": cloud.url, "model": "big-cloud-model", "api_key": API_KEY,
                                        "deadline_s": 5.0}, escalation={"decision_window": 4}, **overrides)
        return Assistant(scheduler, settings)

    broken = load_engine(load_settings(model=str(engine.info.path), engine={"parallel": 1, "n_ctx": 512}))

    def failing_step(seqs) -> None:
        raise EngineError("llama_decode failed with status -3")

    broken.step = failing_step
    scheduler = Scheduler(broken)
    try:
        reply = make().complete(ask())
        assert reply.decision.route == "cloud" and reply.decision.reasons == ("local_failure",)
        assert reply.text == PREFIX + QUESTION
        with pytest.raises(EngineError):
            make(privacy="never").complete(ask())
    finally:
        broken.close()


# -- privacy -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("configured,requested", [("never", None), ("redact", "never"), ("never", "allow")])
def test_never_sends_nothing(
    make_assistant, cloud: FakeCloud, configured: str, requested: str | None
) -> None:
    assistant = make_assistant(privacy=configured, escalation={"threshold": 0.0})
    for request in (ask(route="cloud", privacy=requested), ask(privacy=requested)):
        reply = assistant.complete(request)
        assert reply.decision.route == "local-degraded" and "privacy_never" in reply.decision.reasons
        assert reply.text
    assert cloud.received == []


PII_TEXT = (
    "My email is jane.doe@example.com, phone +1 415 555 0134, card 4111 1111 1111 1111, server 10.1.2.3, "
    "IBAN GB82 WEST 1234 5698 7654 32, project Bluebird. Is this safe?"
)
PII_VALUES = [
    "jane.doe@example.com",
    "+1 415 555 0134",
    "4111 1111 1111 1111",
    "10.1.2.3",
    "GB82 WEST 1234 5698 7654 32",
    "Bluebird",
]


def test_redact_hides_pii_from_the_cloud_and_restores_it(make_assistant, cloud: FakeCloud) -> None:
    assistant = make_assistant(privacy="redact", escalation={"redact_terms": ["bluebird"]})
    events = events_of(assistant, ask(PII_TEXT, route="cloud"))
    (received,) = cloud.received
    for value in PII_VALUES:
        assert value not in received.raw
        assert value.replace(" ", "") not in received.raw.replace(" ", "")
    assert "[EMAIL_1]" in received.raw and "[CARD_1]" in received.raw and "[TERM_1]" in received.raw
    assert text_of(events) == PREFIX + PII_TEXT  # placeholders split over 3-char chunks were restored
    (record,) = audit_records(assistant)
    assert record["redactions"] == len(PII_VALUES) and record["route"] == "cloud"


def test_redact_is_the_floor_for_a_looser_request(make_assistant, cloud: FakeCloud) -> None:
    make_assistant(privacy="redact").complete(ask(PII_TEXT, route="cloud", privacy="allow"))
    assert "jane.doe@example.com" not in cloud.received[0].raw


def test_allow_sends_the_text_as_is(make_assistant, cloud: FakeCloud) -> None:
    assistant = make_assistant(privacy="allow")
    assert assistant.complete(ask(PII_TEXT, route="cloud")).text == PREFIX + PII_TEXT
    assert "jane.doe@example.com" in cloud.received[0].raw
    assert audit_records(assistant)[0]["redactions"] == 0


# -- offline resilience --------------------------------------------------------------------------------------
def test_a_slow_cloud_yields_the_local_answer_within_the_deadline(make_assistant, cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("delay", delay_s=6.0)
    assistant = make_assistant(cloud={"deadline_s": 1.0})
    started = time.monotonic()
    stream = assistant.stream(ask(route="cloud"))
    decision = next(stream)
    waited = time.monotonic() - started
    rest = list(stream)
    assert decision.route == "local-degraded" and decision.reasons == ("explicit", "cloud_unavailable")
    assert waited < 1.6
    assert text_of(rest)
    assert audit_records(assistant)[0]["cloud_error"] == "timeout"


def test_an_unreachable_cloud_degrades_gracefully(make_assistant) -> None:
    reply = make_assistant(base_url=refused_url(), escalation={"threshold": 0.0}).complete(ask())
    assert reply.decision.route == "local-degraded"
    assert reply.decision.reasons == ("low_confidence", "cloud_unavailable")


def test_the_breaker_stops_calls_after_repeated_failures(make_assistant, cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("status", 503)
    assistant = make_assistant(cloud={"retries": 0, "breaker_failures": 2, "breaker_cooldown_s": 60})
    for _ in range(3):
        assert assistant.complete(ask(route="cloud")).decision.route == "local-degraded"
    assert len(cloud.received) == 2
    assert [r["cloud_error"] for r in audit_records(assistant)] == ["http_503", "http_503", "breaker_open"]


def test_a_cloud_that_breaks_mid_answer_raises_a_typed_error(make_assistant, cloud: FakeCloud) -> None:
    cloud.faults.append(Fault("drop"))
    assistant = make_assistant()
    seen: list = []
    with pytest.raises(CloudError):
        seen.extend(assistant.stream(ask(route="cloud")))
    assert seen[0].route == "cloud" and text_of(seen)
    assert audit_records(assistant)[0]["finish"] == "error"


def test_a_whole_answer_falls_back_to_local_when_the_cloud_breaks(make_assistant, cloud: FakeCloud) -> None:
    """Nobody has seen a whole answer yet when the cloud breaks half-way: the local model answers instead."""
    assistant = make_assistant(escalation={"threshold": 0.0})
    for route in ("cloud", "auto"):  # explicit, and low confidence (the local window is kept and used)
        cloud.faults.append(Fault("drop"))
        reply = assistant.complete(ask(route=route))
        assert reply.decision.route == "local-degraded" and "cloud_unavailable" in reply.decision.reasons
        assert reply.text and not reply.text.startswith(PREFIX) and reply.tokens
    assert [r["cloud_error"] for r in audit_records(assistant)] == ["malformed", "malformed"]
    streamed = list(assistant.stream(ChatRequest(messages=[ChatMessage("user", QUESTION)], params=SHORT,
                                                 route="cloud", mode="complete")))
    assert streamed[0].route == "cloud" and text_of(streamed) == PREFIX + QUESTION


# -- audit ---------------------------------------------------------------------------------------------------
def test_audit_has_no_prompt_text_unless_enabled(make_assistant, tmp_path) -> None:
    assistant = make_assistant(escalation={"threshold": 1.0})
    assistant.complete(ask())
    assistant.complete(ask(route="cloud"))
    records = audit_records(assistant)
    assert [r["route"] for r in records] == ["local", "cloud"]
    first = records[0]
    assert {"time", "route", "reasons", "signals", "redactions", "latency_ms", "decision_ms"} <= set(first)
    # The decision's own overhead is small; the answer probe's hidden-state pass is reported apart (`probe_ms`).
    overhead = first["decision_ms"] - first["signals"].get("probe_ms", 0.0)
    assert first["signals"]["score"] >= 0 and first["latency_ms"] > 0 and overhead < 50
    raw = (tmp_path / "audit.jsonl").read_text()
    assert QUESTION not in raw and API_KEY not in raw
    logged = make_assistant(log_prompts=True, escalation={"threshold": 1.0})
    logged.complete(ask())
    assert QUESTION in (tmp_path / "audit.jsonl").read_text()
