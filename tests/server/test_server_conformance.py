"""What real clients send (replayed from bug reports against other OpenAI-compatible servers) gets a right answer or
a 4xx: lone surrogates, over-long conversations, browsers' preflights, llama.cpp's extension fields, pathological
schemas, a cloud that breaks half-way. In-process apps on the shared real engine; the cloud is a real loopback
server with fault injection."""

from __future__ import annotations

import threading
from itertools import pairwise

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.assistant import Assistant
from assistant.budget import fit_context
from assistant.engine.events import ChatMessage
from assistant.settings import load_settings
from server import create_app
from tests.escalation.cloud_server import FakeCloud, Fault

MSG = [{"role": "user", "content": "Say hi."}]
OK_GRAMMAR = 'root ::= "ok"'  # ends every answer after one or two tokens: these tests are about requests
KEY = "conformance-key"


@pytest.fixture
def app_for(engine, tmp_path):
    """`app_for(**settings)`: an in-process client of a new app on the shared engine (API key `KEY`)."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        settings = load_settings(model="ignored", home=tmp_path, api_key=KEY,
                                 escalation={"audit": False, **overrides.pop("escalation", {})}, **overrides)
        client = TestClient(create_app(settings, Assistant(engine, settings)), headers={
            "Authorization": f"Bearer {KEY}"})
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _error(r: httpx.Response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def _raw(http: TestClient, path: str, body: str) -> httpx.Response:
    """POST a body written by hand, so JSON escapes such as `\\ud800` reach the server as they are."""
    return http.post(path, content=body.encode("ascii"), headers={"content-type": "application/json"})


# -- 2. text that cannot be encoded --------------------------------------------------------------------------
CHAT = '{"model": "local", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]'
SURROGATE_BODIES = [
    ('{"model": "local", "messages": [{"role": "user", "content": "a\\ud800b"}]}', "messages[0].content"),
    ('{"model": "local", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
     "messages[0].content[0].text"),
    ('{"model": "local", "messages": [{"role": "user\\ud800", "content": "x"}]}', "messages[0].role"),
    ('{"model": "local", "messages": [{"role": "user", "content": "x", "name": "\\ud83d"}]}', "messages[0].name"),
    (CHAT + ', "stop": ["ok", "\\ud800"]}', "stop"),
    (CHAT + ', "stop": "\\ud800"}', "stop"),
    (CHAT + ', "user": "\\udc80"}', "user"),
    (CHAT + ', "grammar": "root ::= \\"\\ud800\\""}', "grammar"),
    (CHAT + ', "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": '
            '{"type": "object", "properties": {"\\ud800": {"type": "string"}}}}}}',
     "response_format.json_schema.schema"),
    (CHAT + ', "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": '
            '{"enum": ["\\ud800"]}}}}', "response_format.json_schema.schema"),
    (CHAT + ', "response_format": {"type": "json_schema", "json_schema": {"name": "\\ud800"}}}',
     "response_format.json_schema.name"),
    (CHAT + ', "tools": [{"type": "function", "function": {"name": "\\ud800", "parameters": {}}}]}', "tools[0].function.name"),
    (CHAT + ', "tool_choice": "\\ud800"}', "tool_choice"),
    ('{"model": "local\\ud800", "messages": [{"role": "user", "content": "x"}]}', "model"),
    (CHAT + ', "\\ud800": 1}', None),
    (CHAT + ', "stream_options": {"\\ud800": true}}', "stream_options"),
]


@pytest.mark.parametrize("body, param", SURROGATE_BODIES)
def test_lone_surrogates_in_chat_fields_are_400(app_for, body, param):
    http = app_for()
    error = _error(_raw(http, "/v1/chat/completions", body), 400, param)
    assert "surrogate" in error["message"]


@pytest.mark.parametrize("body, param", [
    ('{"model": "local", "max_tokens": 2, "prompt": "x\\ud800"}', "prompt"),
    ('{"model": "local", "max_tokens": 2, "prompt": ["fine", "\\udbff"]}', "prompt[1]"),
    ('{"model": "local", "max_tokens": 2, "prompt": "x", "stop": ["\\ud800"]}', "stop"),
    ('{"model": "local", "max_tokens": 2, "prompt": "x", "grammar": "root ::= \\"\\ud800\\""}', "grammar"),
])
def test_lone_surrogates_in_completion_fields_are_400(app_for, body, param):
    http = app_for()
    _error(_raw(http, "/v1/completions", body), 400, param)
    assert http.post("/v1/completions", json={"model": "local", "prompt": "Hi", "max_tokens": 1}).status_code == 200


# -- 3. no silent truncation -----------------------------------------------------------------------------------
def _many_turns(n: int) -> list[dict]:
    turns = [{"role": "system", "content": "Be brief."}]
    for i in range(n):
        turns += [{"role": "user", "content": f"Tell me fact {i} about rivers."},
                  {"role": "assistant", "content": f"Fact {i}: rivers reach the sea."}]
    return turns + [{"role": "user", "content": "One more?"}]


# A reply reserve of 1980 tokens leaves 68 of the 2048-token window: 40 short exchanges overflow it, and what
# survives truncation is quick to prefill.
LIMIT = 68
LONG = {"model": "local", "messages": _many_turns(40), "max_tokens": 2048 - LIMIT, "grammar": OK_GRAMMAR}
RESERVE = {"engine": {"reserve_tokens": 2048 - LIMIT}}


def test_overflowing_conversation_is_400_by_default(app_for, engine):
    http = app_for(**RESERVE)
    error = _error(http.post("/v1/chat/completions", json=LONG), 400, "messages", "context_length_exceeded")
    tokens = engine.count_tokens([ChatMessage(m["role"], m["content"]) for m in LONG["messages"]])
    assert f"has {tokens} tokens" in error["message"] and "context window is 2048" in error["message"]
    error = _error(http.post("/v1/chat/completions", json={**LONG, "truncation": "disabled"}), 400)
    assert error["code"] == "context_length_exceeded"


def test_opt_in_truncation_drops_whole_exchanges_and_says_so(app_for, engine):
    http = app_for(**RESERVE)
    r = http.post("/v1/chat/completions", json={**LONG, "truncation": "auto"})
    assert r.status_code == 200, r.text
    messages = [ChatMessage(m["role"], m["content"]) for m in LONG["messages"]]
    expected = fit_context(messages, engine.count_tokens, 2048, 2048 - LIMIT, "truncate-oldest")
    usage = r.json()["usage"]
    assert int(r.headers["x-hearth-truncated-tokens"]) == usage["truncated_tokens"] == expected.dropped_tokens > 0
    assert usage["prompt_tokens"] == expected.prompt_tokens <= LIMIT
    assert usage["prompt_tokens"] + usage["truncated_tokens"] == engine.count_tokens(messages)
    roles = [m.role for m in expected.messages]
    assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in pairwise(roles[1:])), roles  # still alternating


def test_truncation_by_setting_and_in_streams(app_for):
    http = app_for(server={"truncation": "auto"}, **RESERVE)
    r = http.post("/v1/chat/completions", json=LONG)
    assert r.status_code == 200 and int(r.headers["x-hearth-truncated-tokens"]) > 0
    _error(http.post("/v1/chat/completions", json={**LONG, "truncation": "disabled"}), 400)
    body = {**LONG, "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", "/v1/chat/completions", json=body) as s:
        assert s.status_code == 200 and int(s.headers["x-hearth-truncated-tokens"]) > 0
        lines = [line for line in s.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and '"truncated_tokens":' in lines[-2]
    fits = http.post("/v1/chat/completions", json={"model": "local", "messages": MSG, "max_tokens": 2})
    assert "x-hearth-truncated-tokens" not in fits.headers and "truncated_tokens" not in fits.json()["usage"]


def test_the_cloud_takes_an_overflow_untruncated(app_for):
    cloud = FakeCloud().start()
    try:
        http = app_for(cloud={"base_url": cloud.url, "model": "big", "deadline_s": 5.0}, **RESERVE)
        r = http.post("/v1/chat/completions", json=LONG)
        assert r.status_code == 200 and r.headers["x-hearth-route"] == "cloud"
        assert "x-hearth-truncated-tokens" not in r.headers
        assert len(cloud.received[0].body["messages"]) == len(LONG["messages"])
    finally:
        cloud.stop()


# -- 4. browsers -------------------------------------------------------------------------------------------------
ORIGIN = "http://app.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_cors_preflight_needs_no_key_but_the_request_does(app_for):
    http = app_for(server={"cors_origins": [ORIGIN]})
    pre = http.options("/v1/chat/completions", headers={**PREFLIGHT, "Authorization": ""})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    body = {"model": "local", "messages": MSG, "max_tokens": 2}
    denied = http.post("/v1/chat/completions", json=body, headers={"Origin": ORIGIN, "Authorization": ""})
    _error(denied, 401, code="invalid_api_key")
    assert denied.headers["access-control-allow-origin"] == ORIGIN  # the browser may read the error
    ok = http.post("/v1/chat/completions", json=body, headers={"Origin": ORIGIN})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    assert "x-hearth-route" in ok.headers["access-control-expose-headers"].lower()
    other = http.options("/v1/chat/completions", headers={**PREFLIGHT, "Origin": "http://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_no_cors_by_default(app_for):
    http = app_for()
    pre = http.options("/v1/chat/completions", headers=PREFLIGHT)
    assert pre.status_code == 405 and "access-control-allow-origin" not in pre.headers
    r = http.post("/v1/chat/completions", json={"model": "local", "messages": MSG, "max_tokens": 2},
                  headers={"Origin": ORIGIN})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


# -- 5. llama.cpp's extension fields and logit_bias ---------------------------------------------------------------
def _text(http: TestClient, path: str = "/v1/chat/completions", **body) -> str:
    base = {"model": "local", "max_tokens": 6} if "prompt" in body else {"model": "local", "messages": MSG,
                                                                         "max_tokens": 6}
    r = http.post(path, json={**base, **body})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    return choice["message"]["content"] if "message" in choice else choice["text"]


def test_top_k_and_min_p_of_one_sample_like_greedy(app_for):
    http = app_for()
    greedy = _text(http, temperature=0, max_tokens=3)
    for seed, extra in ((1, {"top_k": 1}), (2, {"min_p": 1.0})):
        assert _text(http, temperature=1.5, seed=seed, max_tokens=3, **extra) == greedy, extra
    assert _text(http, temperature=0, max_tokens=2, repeat_penalty=1.3, repeat_last_n=-1, top_k=-1)
    # llama.cpp allocates repeat_last_n tokens: the largest C int (8 GiB) is clamped to the context
    assert _text(http, max_tokens=1, repeat_last_n=2**31 - 1, top_k=2**31 - 1)
    assert _text(http, "/v1/completions", prompt="The sea is", max_tokens=2, top_k=1, min_p=0.1, repeat_last_n=0)


def test_grammar_constrains_the_output_and_bad_ones_are_400(app_for):
    http = app_for()
    assert _text(http, grammar='root ::= "yes" | "no"', max_tokens=8) in ("yes", "no")
    assert _text(http, "/v1/completions", prompt="Answer:", grammar='root ::= [0-9]+', max_tokens=4).isdigit()
    body = {"model": "local", "messages": MSG, "max_tokens": 2}
    _error(http.post("/v1/chat/completions", json={**body, "grammar": "root ::= undefined-rule"}), 400, "grammar")
    deep = "root ::= " + "(" * 20000 + '"a"' + ")" * 20000  # would crash llama.cpp's parser
    _error(http.post("/v1/chat/completions", json={**body, "grammar": deep}), 400, "grammar")
    assert _text(http, temperature=0)  # the server lives on


def test_logit_bias_bans_and_forces_tokens(app_for, engine):
    http = app_for()
    r = http.post("/v1/chat/completions", json={"model": "local", "messages": MSG, "max_tokens": 1,
                                                "temperature": 0, "logprobs": True})
    first = bytes(r.json()["choices"][0]["logprobs"]["content"][0]["bytes"]).decode()
    (token,) = engine.tokenize(first, special=False)
    banned = _text(http, temperature=0, max_tokens=1, logit_bias={str(token): -100})
    assert banned != first
    forced = engine.tokenize(" walrus", special=False)[0]
    r = http.post("/v1/chat/completions", json={"model": "local", "messages": MSG, "max_tokens": 3, "seed": 3,
                                                "temperature": 1.0, "logprobs": True,
                                                "logit_bias": {str(forced): 100}})
    pieces = {bytes(t["bytes"]).decode() for t in r.json()["choices"][0]["logprobs"]["content"]}
    assert [engine.tokenize(p, special=False) for p in pieces] == [[forced]], pieces
    _error(http.post("/v1/chat/completions", json={"model": "local", "messages": MSG, "logit_bias": {
        str(engine.info.n_vocab): 1}}), 400, "logit_bias")


# -- 6. heavy work off the event loop ----------------------------------------------------------------------------
def _slow_schema() -> dict:
    """A schema whose conversion to a grammar takes seconds (many wide alternatives), and whose grammar is then
    refused (nested too deep), so the request ends as soon as the conversion does."""
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(120)}}
    return {"anyOf": [wide] * 30 + [{"type": "string", "maxLength": 2000}]}


def test_health_answers_while_a_schema_converts(app_for):
    http = app_for()
    done = threading.Event()
    result: list[httpx.Response] = []

    def convert() -> None:
        result.append(http.post("/v1/chat/completions", json={
            "model": "local", "messages": MSG, "max_tokens": 2,
            "response_format": {"type": "json_schema", "json_schema": {"name": "slow", "schema": _slow_schema()}}}))
        done.set()

    worker = threading.Thread(target=convert)
    worker.start()
    answered_meanwhile = 0
    while not done.is_set():
        assert http.get("/health").status_code == 200
        answered_meanwhile += not done.is_set()
    worker.join()
    _error(result[0], 400, "response_format.json_schema")
    # Had the conversion blocked the event loop, no health check could have been answered before it ended.
    assert answered_meanwhile >= 5, answered_meanwhile


# -- 7. a cloud that breaks half-way -----------------------------------------------------------------------------
def test_a_whole_answer_survives_a_cloud_that_breaks_half_way(app_for):
    cloud = FakeCloud().start()
    try:
        http = app_for(cloud={"base_url": cloud.url, "model": "big", "deadline_s": 5.0})
        body = {"model": "cloud", "messages": MSG, "max_tokens": 4}
        cloud.faults.append(Fault("drop"))
        r = http.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.headers["x-hearth-route"] == "local-degraded", r.text
        assert r.json()["choices"][0]["message"]["content"]
        cloud.faults.append(Fault("malformed"))
        assert http.post("/v1/chat/completions", json=body).headers["x-hearth-route"] == "local-degraded"
        ok = http.post("/v1/chat/completions", json=body)  # an intact cloud answer is still used
        assert ok.headers["x-hearth-route"] == "cloud" and ok.json()["choices"][0]["message"]["content"]
        cloud.faults.append(Fault("drop"))  # a stream has sent its headers: the break can only be an event
        with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as s:
            assert s.status_code == 200 and s.headers["x-hearth-route"] == "cloud"
            last = [line for line in s.iter_lines() if line.startswith("data: ")][-1]
        assert '"cloud_unavailable"' in last
    finally:
        cloud.stop()
