"""Third-party clients against the live server: LangChain's ChatOpenAI, and a schemathesis run over the
OpenAPI document (no 5xx for any generated request)."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # schemathesis brings hypothesis


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
    return schemathesis.openapi.from_url(live.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("openapi_schema")


def _cap(body: object) -> None:
    """Keep generated requests cheap: one token, one choice, short texts (the fuzzing is about request handling,
    not decoding)."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("model"), str):
        body["model"] = "local"  # past the 404 check, so generated requests reach the model
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int) and body[key] > 1:
            body[key] = 1
    body.setdefault("max_tokens", 1)
    if isinstance(body.get("n"), int) and body["n"] > 1:
        body["n"] = 1
    if isinstance(body.get("prompt"), list):
        body["prompt"] = body["prompt"][:1]
    if isinstance(body.get("prompt"), str):
        body["prompt"] = body["prompt"][:64]
    for message in body.get("messages") or []:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = message["content"][:64]


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case, live):
    _cap(case.body)
    response = case.call(headers=live.headers(), timeout=60)
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text}"
