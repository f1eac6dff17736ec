"""Third-party clients against the live server: LangChain's ChatOpenAI, and a schemathesis run over the
OpenAPI document (no 5xx for any generated request)."""

from __future__ import annotations

import json
import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # schemathesis brings hypothesis
from hypothesis import strategies as st


def test_langchain_chat_openai(live):
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(model="local", base_url=live.base_url, api_key=live.api_key, max_tokens=6,
                                      temperature=0, max_retries=0, timeout=60)
    reply = llm.invoke("Say hello.")
    assert isinstance(reply.content, str) and reply.content
    assert reply.usage_metadata["output_tokens"] <= 6
    streamed = "".join(chunk.content for chunk in llm.stream("Say hello."))
    assert streamed == reply.content


@pytest.fixture
def openapi_schema(live):
    loaded = schemathesis.openapi.from_url(live.url + "/openapi.json")
    loaded.hook(flatmap_body)
    return loaded


# What real clients send that a schema-driven generator does not: hypothesis' text never holds a lone surrogate.
# Issue 14 asks for at least 200 per operation; CI's second interpreter (3.10), whose data generation is several
# times slower on deep nesting, runs fewer, the same code having been fuzzed with 200 on 3.11.
FUZZ_EXAMPLES = int(os.environ.get("HEARTH_FUZZ_EXAMPLES", "200"))
SURROGATES = ("\ud800", "\udfff", "\udc80x", "a\ud83d")
HUGE = (10**30, -(10**30), 2**63, 2**64, 1e308, -1e308, 2**31, -(2**31) - 1)


def _leaves(value: object, path: tuple = ()) -> list[tuple]:
    """Every (path, value) inside a JSON value, containers included."""
    out = [(path, value)]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _leaves(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _leaves(sub, (*path, i))
    return out


def _put(body: object, path: tuple, value: object) -> object:
    if not path:
        return value
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return body


def _deep(depth: int, kind: str) -> object:
    node: object = {"type": "string"} if kind == "schema" else "x"
    for _ in range(depth):
        node = {"type": "object", "properties": {"a": node}} if kind == "schema" else [node] if kind == "list" \
            else {"a": node}
    return node


def _mutate(body: object, kind: str, rnd, depth: int) -> object:
    """Put one kind of hostile input somewhere in a generated body."""
    body = json.loads(json.dumps(body))  # a private copy
    leaves = _leaves(body)
    if kind == "surrogate":
        texts = [(p, v) for p, v in leaves if isinstance(v, str)]
        dicts = [(p, v) for p, v in leaves if isinstance(v, dict)]
        if texts and (not dicts or rnd.random() < 0.8):
            path, text = rnd.choice(texts)
            return _put(body, path, rnd.choice(SURROGATES) + text)
        if dicts:
            rnd.choice(dicts)[1][rnd.choice(SURROGATES)] = "x"
        return body
    if kind == "empty":
        for path, value in reversed(leaves):  # innermost first, so outer paths stay valid
            if isinstance(value, list):
                _put(body, path, [])
        return body
    if kind == "huge":
        numbers = [p for p, v in leaves if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return _put(body, rnd.choice(numbers), rnd.choice(HUGE))
        return body
    if isinstance(body, dict):  # deep nesting, in a schema or anywhere
        if rnd.random() < 0.5:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "d",
                                                                              "schema": _deep(depth, "schema")}}
        else:
            path, _ = rnd.choice(leaves)
            return _put(body, path, _deep(depth, rnd.choice(("list", "dict"))))
    return body


def flatmap_body(context, body):
    try:  # negative examples may be bytes or other non-JSON bodies: those stay as they are
        json.dumps(body)
    except (TypeError, ValueError):
        return st.just(body)
    # Nesting up to 150 levels: schemathesis hashes generated bodies recursively (2-4 Python frames per level), and
    # deeper bodies overflowed the recursion limit in the generator itself (seen with schemathesis 4.x on 3.10).
    hostile = st.tuples(st.sampled_from(("surrogate", "empty", "huge", "deep")), st.randoms(),
                        st.integers(30, 150))
    return st.one_of(st.just(body), hostile.map(lambda h: _mutate(body, *h)))


schema = schemathesis.pytest.from_fixture("openapi_schema")


def _cap(body: object, path: str = "") -> None:
    """Keep generated requests cheap: one token, one choice, short texts (the fuzzing is about request handling,
    not decoding)."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("model"), str) or path == "/api/pull":
        body["model"] = "local"  # past the 404 check, so generated requests reach the model (a pull of it is a 404)
    if path in ("/v1/embeddings", "/api/embed", "/api/embeddings"):  # no max_tokens there: a few short inputs
        _cap_inputs(body)
        return
    if path.startswith("/api/"):  # Ollama's bodies: max_tokens is options.num_predict there
        options = body.get("options")
        if isinstance(options, dict) or "messages" in body or "prompt" in body:
            body["options"] = {**(options if isinstance(options, dict) else {}), "num_predict": 1}
        _cap_texts(body)
        return
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int) and body[key] > 1:
            body[key] = 1
    body.setdefault("max_tokens", 1)
    if isinstance(body.get("n"), int) and body["n"] > 1:
        body["n"] = 1
    if isinstance(body.get("prompt"), list):
        body["prompt"] = body["prompt"][:1]
    _cap_texts(body)


def _cap_inputs(body: dict) -> None:
    if isinstance(body.get("prompt"), str):
        body["prompt"] = body["prompt"][:64]
    value = body.get("input")
    if isinstance(value, str):
        body["input"] = value[:64]
    elif isinstance(value, list):
        body["input"] = [v[:64] if isinstance(v, str) else v[:16] if isinstance(v, list) else v for v in value[:16]]


def _cap_texts(body: dict) -> None:
    if isinstance(body.get("prompt"), str):
        body["prompt"] = body["prompt"][:64]
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = message["content"][:64]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case, live):
    """200 examples per operation (HEARTH_FUZZ_EXAMPLES), half of them with a lone surrogate, emptied arrays, a huge number or deep
    nesting put in: every answer is < 500."""
    _cap(case.body, case.path)
    response = case.call(headers=live.headers(), timeout=60)
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text}"
