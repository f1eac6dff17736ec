"""Every error is OpenAI's envelope with the right status: 400, 401, 404, 413, 429 (and 503 in-process)."""

from __future__ import annotations

import contextlib

import httpx
import openai
import pytest

MSG = [{"role": "user", "content": "hi"}]


def _envelope(exc: openai.APIStatusError, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert exc.status_code == status
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    if param is not None:
        assert body["error"]["param"] == param
    return body["error"]


def test_401_without_or_with_wrong_key_and_health_stays_open(live):
    for key in ("wrong-key", "x" * len(live.api_key)):
        with live.client(api_key=key) as bad, pytest.raises(openai.AuthenticationError) as err:
            bad.models.list()
        assert _envelope(err.value, 401, "invalid_api_key")["type"] == "authentication_error"
    r = httpx.post(live.base_url + "/chat/completions", json={"model": "local", "messages": MSG}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(live.url + "/metrics", timeout=10).status_code == 401
    assert httpx.get(live.url + "/health", timeout=10).status_code == 200


def test_404_unknown_model(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=2)
    _envelope(err.value, 404, "model_not_found", "model")
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("nope")
    _envelope(err.value, 404, "model_not_found")
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="nope", prompt="x", max_tokens=2)
    _envelope(err.value, 404, "model_not_found")


def test_404_unknown_route(live):
    r = httpx.get(live.url + "/v2/nothing", headers=live.headers(), timeout=10)
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("kwargs, param", [
    ({"extra_body": {"functions": [{"name": "f", "parameters": {}}]}}, "functions"),
    ({"tool_choice": "auto"}, "tool_choice"),  # no tools to choose from
    ({"logit_bias": {"hello": 5}}, "logit_bias"),
    ({"logit_bias": {"99999999": 5}}, "logit_bias"),
    ({"extra_body": {"mirostat": 2}}, "mirostat"),
    ({"extra_body": {"grammar": 'root ::= "a"', "response_format": {"type": "json_object"}}}, "grammar"),
    ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
])
def test_400_names_the_unsupported_parameter(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="local", messages=MSG, max_tokens=2, **kwargs)
    _envelope(err.value, 400, param=param)


def test_400_for_non_text_content_and_unknown_role(client):
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="local", messages=image, max_tokens=2)
    _envelope(err.value, 400, param="messages[0].content[0].type")
    legacy = [{"role": "function", "content": "42", "name": "f"}]  # the pre-tools role (tool turns work)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="local", messages=legacy, max_tokens=2)
    _envelope(err.value, 400, param="messages[0].role")


def test_400_context_overflow(client):
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="local", prompt=long[0]["content"], max_tokens=2)
    _envelope(err.value, 400, "context_length_exceeded")


@pytest.mark.parametrize("kwargs, param", [
    ({"temperature": 5}, "temperature"),
    ({"n": 9}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ({"messages": []}, "messages"),
    ({"max_tokens": "ten"}, "max_tokens"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ({"stop": [1, 2]}, "stop[0]"),
    ({"seed": 2**64}, "seed"),
    ({"temperature": 1e308}, "temperature"),
    ({"stream": "maybe"}, "stream"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"top_k": -2}, "top_k"),
    ({"min_p": 1.5}, "min_p"),
    ({"repeat_penalty": 0}, "repeat_penalty"),
    ({"logit_bias": {"42": -101}}, "logit_bias[42]"),
])
def test_400_invalid_values(client, kwargs, param):
    """Validation errors are 400 in the OpenAI envelope (as OpenAI and llama.cpp's server answer), never 422."""
    args = {"model": "local", "messages": MSG, "max_tokens": 2, **kwargs}
    model, messages = args.pop("model"), args.pop("messages")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=model, messages=messages, extra_body=args)
    _envelope(err.value, 400, param=param)


def test_400_missing_and_malformed_json(live):
    for body, code in ((b"{not json", "invalid_json"), (b'{"model": "local"}', "missing_required_parameter"),
                       (b"[]", None), (b'"just a string"', None), (b"", None)):
        r = httpx.post(live.base_url + "/chat/completions", content=body, headers={
            **live.headers(), "content-type": "application/json"}, timeout=10)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
        if code:
            assert r.json()["error"]["code"] == code


def test_openapi_document_has_no_422(live):
    document = httpx.get(live.url + "/openapi.json", timeout=10).json()
    for path in document["paths"].values():
        for operation in path.values():
            assert "422" not in operation.get("responses", {})


def test_413_body_too_large(client, live):
    huge = [{"role": "user", "content": "x" * 70_000}]
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="local", messages=huge, max_tokens=2)
    _envelope(err.value, 413, "payload_too_large")

    def chunked():  # no Content-Length: the limit must hold while the body is read
        for _ in range(10):
            yield b" " * 10_000

    r = httpx.post(live.base_url + "/chat/completions", content=chunked(), timeout=10,
                   headers={**live.headers(), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_429_when_the_server_is_full(live, client):
    """2 slots and a queue of 4: six long requests in flight fill the server; the next gets 429 with Retry-After,
    and the six are served once it is done."""
    long_body = {"model": "local", "messages": MSG, "max_tokens": 600, "stream": True,
                 "response_format": {"type": "json_schema", "json_schema": {"name": "l", "schema": {
                     "type": "object", "required": ["t"], "properties": {"t": {"type": "string",
                                                                                "minLength": 3000}}}}}}
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(httpx.stream("POST", live.base_url + "/chat/completions", json=long_body,
                                                    headers=live.headers(), timeout=60)) for _ in range(6)]
        assert all(s.status_code == 200 for s in streams)
        live.wait_metric("hearth_requests_in_flight", lambda v: v == 6)
        # two generating, four waiting for a slot (a request is admitted to a free slot between decode steps)
        live.wait_metric("hearth_queue_depth", lambda v: v == 4)
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="local", messages=MSG, max_tokens=2)
        _envelope(err.value, 429, "queue_full")
        assert int(err.value.response.headers["retry-after"]) >= 1
    # Leaving the streams frees the slots at once: a new request is served.
    live.wait_metric("hearth_slots_busy", lambda v: v == 0)
    assert client.chat.completions.create(model="local", messages=MSG, max_tokens=2).usage.completion_tokens >= 1
