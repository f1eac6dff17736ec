"""The app factory in-process (Starlette's TestClient): deadlines, readiness, per-app state."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from assistant.assistant import Assistant
from assistant.settings import load_settings
from server import create_app

# A grammar that cannot finish early: the model must write a 4000-character string.
LONG = {"model": "local", "messages": [{"role": "user", "content": "Write."}], "max_tokens": 1500,
        "response_format": {"type": "json_schema", "json_schema": {"name": "l", "schema": {
            "type": "object", "required": ["t"], "properties": {"t": {"type": "string", "minLength": 4000}}}}}}
SHORT = {"model": "local", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def engine1(default_model_path):
    from assistant.runtime import load_engine

    eng = load_engine(load_settings(model=str(default_model_path), engine={"n_ctx": 1024, "n_threads": 1}))
    yield eng
    eng.close()


def _app(engine, home, **server):
    settings = load_settings(model="ignored", home=home, server=server)
    return create_app(settings, Assistant(engine, settings))


def _wait_idle(app) -> None:
    deadline = time.monotonic() + 20
    while app.state.hearth.jobs.busy:
        assert time.monotonic() < deadline, "the abandoned generation did not stop"
        time.sleep(0.01)


def _still_serves(engine, home) -> None:
    with TestClient(_app(engine, home)) as http:
        ok = http.post("/v1/chat/completions", json=SHORT)
        assert ok.status_code == 200, ok.text


def test_deadline_gives_504_and_frees_the_model(engine1, tmp_path):
    with TestClient(_app(engine1, tmp_path, request_timeout_s=0.3)) as http:
        r = http.post("/v1/chat/completions", json=LONG)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        _wait_idle(http.app)
        generated = http.app.state.hearth.metrics.registry.get_sample_value("hearth_completion_tokens_total")
        assert generated < 1500, "the generation ran to max_tokens after its deadline"
    _still_serves(engine1, tmp_path)


def test_deadline_mid_stream_sends_an_error_event(engine1, tmp_path):
    with TestClient(_app(engine1, tmp_path, request_timeout_s=1.0)) as http:
        with http.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as r:
            assert r.status_code == 200
            events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
        assert json.loads(events[-1])["error"]["code"] == "timeout"
        _wait_idle(http.app)
    _still_serves(engine1, tmp_path)


def test_health_503_when_the_model_cannot_load(tmp_path):
    settings = load_settings(home=tmp_path, model="no-such-model")
    with TestClient(create_app(settings)) as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and http.app.state.hearth.load_error is None:
            time.sleep(0.02)
        r = http.get("/health")
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_loading"
        assert "no-such-model" in r.json()["error"]["message"]
        assert http.get("/v1/models").status_code == 503
        assert http.post("/v1/chat/completions", json=SHORT).status_code == 503


def test_apps_share_no_state(engine1, tmp_path):
    a, b = _app(engine1, tmp_path), _app(engine1, tmp_path)
    assert a.state.hearth is not b.state.hearth
    assert a.state.hearth.metrics.registry is not b.state.hearth.metrics.registry
    with TestClient(a) as http:
        assert http.post("/v1/chat/completions", json=SHORT).status_code == 200
    text = b.state.hearth.metrics.render().decode()
    assert 'route="/v1/chat/completions"' not in text


def test_health_is_503_while_loading_then_200(monkeypatch, default_model_path, tmp_path):
    import threading

    from assistant import runtime

    gate = threading.Event()
    real = runtime.build_assistant

    def gated(settings, engine=None):  # the real load, held until the test has seen the loading state
        assert gate.wait(30)
        return real(settings, engine)

    monkeypatch.setattr(runtime, "build_assistant", gated)
    settings = load_settings(home=tmp_path, model=str(default_model_path), engine={"n_ctx": 512, "n_threads": 1})
    with TestClient(create_app(settings)) as http:
        r = http.get("/health")
        assert r.status_code == 503 and r.json()["error"]["message"] == "the model is loading"
        assert http.post("/v1/chat/completions", json=SHORT).status_code == 503
        gate.set()
        deadline = time.monotonic() + 30
        while http.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert http.post("/v1/chat/completions", json=SHORT).status_code == 200


def test_log_prompts_only_when_enabled(engine1, caplog, tmp_path):
    marker = "walrus-umbrella-42"
    body = {**SHORT, "messages": [{"role": "user", "content": marker}]}
    for enabled in (False, True):
        caplog.clear()
        settings = load_settings(model="ignored", home=tmp_path, log_prompts=enabled)
        with caplog.at_level("DEBUG"), TestClient(create_app(settings, Assistant(engine1, settings))) as http:
            assert http.post("/v1/chat/completions", json=body).status_code == 200
        assert (marker in caplog.text) is enabled


def test_cloud_alias_is_served_and_the_route_header_tells_where(engine1, tmp_path):
    """A cloud alias asks the Assistant for the cloud; with the cloud unreachable the answer is local-degraded."""
    settings = load_settings(model="ignored", home=tmp_path, cloud={
        "base_url": "http://127.0.0.1:9/v1", "model": "big-model", "retries": 0, "connect_timeout_s": 2})
    with TestClient(create_app(settings, Assistant(engine1, settings))) as http:
        names = [m["id"] for m in http.get("/v1/models").json()["data"]]
        assert {"local", "cloud", "big-model"} <= set(names)
        r = http.post("/v1/chat/completions", json={**SHORT, "model": "cloud"})
        assert r.status_code == 200 and r.headers["x-hearth-route"] == "local-degraded"
        with http.stream("POST", "/v1/chat/completions", json={**SHORT, "model": "cloud", "stream": True}) as s:
            assert s.headers["x-hearth-route"] == "local-degraded"
            assert [line for line in s.iter_lines() if line][-1] == "data: [DONE]"
        text = http.get("/metrics").text
        assert 'hearth_route_decisions_total{reason="explicit",route="local-degraded"}' in text


def test_a_request_that_waits_for_its_first_event_is_answered(engine1, tmp_path):
    """The request's task polls for events every 0.25 s; a wait longer than that is not an error.

    The cloud holds its answer back for 0.8 s, so the task sees at least one empty poll before any event. On
    Python 3.10 that poll raises asyncio.TimeoutError, which is not the builtin TimeoutError before 3.11."""
    from escalation.cloud_server import FakeCloud, Fault  # tests/escalation, importable as a test package

    cloud = FakeCloud().start()
    try:
        cloud.default_fault = Fault("delay", delay_s=0.8)
        settings = load_settings(model="ignored", home=tmp_path, cloud={
            "base_url": cloud.url, "model": "big-model", "retries": 0, "deadline_s": 10, "read_timeout_s": 10})
        with TestClient(create_app(settings, Assistant(engine1, settings))) as http:
            r = http.post("/v1/chat/completions", json={**SHORT, "model": "cloud"})
            assert r.status_code == 200, r.text
            assert r.headers["x-hearth-route"] == "cloud"
            assert r.json()["choices"][0]["message"]["content"] == "CLOUD SAYS: Hi"
            with http.stream("POST", "/v1/chat/completions",
                             json={**SHORT, "model": "cloud", "stream": True}) as s:
                assert s.status_code == 200 and s.headers["x-hearth-route"] == "cloud"
                lines = [line for line in s.iter_lines() if line]
            assert lines[-1] == "data: [DONE]" and not any('"error"' in line for line in lines)
        assert len(cloud.received) == 2
    finally:
        cloud.stop()


def test_the_clouds_tool_calls_reach_the_openai_sdk_in_openais_shape(engine1, tmp_path):
    """An escalated request with tools (here the `cloud` alias): the cloud's call comes back as
    `message.tool_calls` with `finish_reason: "tool_calls"`, and streamed as deltas the SDK reassembles."""
    from escalation.cloud_server import FakeCloud
    from openai import OpenAI

    tools = [{"type": "function", "function": {"name": "send_note", "description": "Send a note", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]
    ask = {"model": "cloud", "messages": [{"role": "user", "content": "Note: buy milk"}], "tools": tools,
           "tool_choice": "required", "max_tokens": 32}
    cloud = FakeCloud().start()
    try:
        settings = load_settings(model="ignored", home=tmp_path, cloud={
            "base_url": cloud.url, "model": "big-model", "retries": 0, "deadline_s": 10})
        with TestClient(create_app(settings, Assistant(engine1, settings))) as http:
            sdk = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http)
            whole = sdk.chat.completions.with_raw_response.create(**ask)
            assert whole.headers["x-hearth-route"] == "cloud"
            choice = whole.parse().choices[0]
            assert choice.finish_reason == "tool_calls" and choice.message.content is None
            [call] = choice.message.tool_calls
            assert (call.id, call.function.name) == ("call_cloud0", "send_note")
            assert json.loads(call.function.arguments) == {"text": "Note: buy milk"}
            with sdk.chat.completions.stream(**ask) as stream:
                for _ in stream:
                    pass
                final = stream.get_final_completion().choices[0]
            assert final.finish_reason == "tool_calls"
            assert [json.loads(c.function.arguments) for c in final.message.tool_calls] == [{"text": "Note: buy milk"}]
        assert [r.body["tool_choice"] for r in cloud.received] == ["required", "required"]
    finally:
        cloud.stop()
