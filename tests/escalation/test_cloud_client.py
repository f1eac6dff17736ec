"""The cloud client against a real HTTP server: streaming, retries with backoff, deadlines, malformed streams,
the breaker, and the API key staying out of every message."""

from __future__ import annotations

import logging
import time

import pytest

from assistant.engine.events import ChatMessage
from assistant.engine.sampling import SamplingParams
from assistant.errors import CloudError
from assistant.escalation.cloud import CloudClient
from assistant.settings import CloudSettings

from .cloud_server import PREFIX, FakeCloud, Fault, refused_url
from .conftest import API_KEY

MESSAGES = [ChatMessage("system", "be brief"), ChatMessage("user", "hello there")]


def client(url: str, **kw) -> CloudClient:
    cfg = {
        "base_url": url,
        "model": "m",
        "api_key": API_KEY,
        "backoff_s": 0.05,
        "connect_timeout_s": 1.0,
        **kw,
    }
    return CloudClient(CloudSettings(**cfg))


def deadline(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_streams_chunks_and_sends_the_request(cloud: FakeCloud) -> None:
    c = client(cloud.url)
    chunks = list(c.stream(MESSAGES, SamplingParams(max_tokens=9, stop=["x"], seed=3), deadline()))
    assert "".join(ch.text for ch in chunks) == PREFIX + "hello there"
    assert len(chunks) > 3 and chunks[-1].finish_reason == "stop"
    (req,) = cloud.received
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.body["model"] == "m" and req.body["stream"] is True and req.body["max_tokens"] == 9
    assert req.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert req.body["stop"] == ["x"] and req.body["seed"] == 3


def test_complete_collects_the_answer(cloud: FakeCloud) -> None:
    assert client(cloud.url).complete(MESSAGES, SamplingParams(), deadline()).text == PREFIX + "hello there"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retries_retryable_statuses_then_succeeds(cloud: FakeCloud, status: int) -> None:
    cloud.faults.extend([Fault("status", status), Fault("status", status)])
    c = client(cloud.url, retries=2)
    assert c.complete(MESSAGES, SamplingParams(), deadline()).text.startswith(PREFIX)
    assert len(cloud.received) == 3
    assert c.breaker.state == "closed"


def test_gives_up_after_the_retries_and_honours_retry_after(cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("status", 429, headers={"Retry-After": "0.3"})
    c = client(cloud.url, retries=1)
    started = time.monotonic()
    with pytest.raises(CloudError) as exc:
        c.complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "http_429"
    assert len(cloud.received) == 2
    assert time.monotonic() - started >= 0.3


def test_client_errors_are_not_retried(cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("status", 401)
    with pytest.raises(CloudError) as exc:
        client(cloud.url).complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "http_401" and len(cloud.received) == 1


def test_refused_connection_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(CloudError) as exc:
        client(refused_url(), retries=2).complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "connect"
    assert time.monotonic() - started < 2.0


def test_a_slow_cloud_is_abandoned_at_the_deadline(cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("delay", delay_s=3.0)
    started = time.monotonic()
    with pytest.raises(CloudError) as exc:
        client(cloud.url).complete(MESSAGES, SamplingParams(), deadline(0.6))
    elapsed = time.monotonic() - started
    assert exc.value.cause == "timeout"
    assert 0.5 < elapsed < 1.5


def test_malformed_and_dropped_streams_are_errors(cloud: FakeCloud) -> None:
    cloud.faults.append(Fault("malformed"))
    with pytest.raises(CloudError) as exc:
        client(cloud.url).complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "malformed"
    cloud.faults.append(Fault("drop"))
    with pytest.raises(CloudError) as exc:
        list(client(cloud.url).stream(MESSAGES, SamplingParams(), deadline()))
    assert exc.value.cause in ("malformed", "connect")


def test_breaker_opens_and_stops_calling_the_cloud(cloud: FakeCloud) -> None:
    cloud.default_fault = Fault("status", 500)
    c = client(cloud.url, retries=0, breaker_failures=2, breaker_cooldown_s=0.5)
    for _ in range(2):
        with pytest.raises(CloudError):
            c.complete(MESSAGES, SamplingParams(), deadline())
    with pytest.raises(CloudError) as exc:
        c.complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "breaker_open" and len(cloud.received) == 2
    time.sleep(0.6)  # cooldown over: one probe, which succeeds and closes the breaker
    cloud.default_fault = None
    assert c.complete(MESSAGES, SamplingParams(), deadline()).text.startswith(PREFIX)
    assert c.breaker.state == "closed" and len(cloud.received) == 3


def test_the_api_key_never_appears_in_errors_or_logs(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud.default_fault = Fault("status", 500)
    c = client(cloud.url, retries=1)
    with pytest.raises(CloudError) as exc:
        c.complete(MESSAGES, SamplingParams(), deadline())
    assert API_KEY not in str(exc.value) and API_KEY not in repr(exc.value)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(c.settings) and API_KEY not in str(c.settings.model_dump())


def test_unconfigured_client_refuses() -> None:
    with pytest.raises(CloudError) as exc:
        CloudClient(CloudSettings()).complete(MESSAGES, SamplingParams(), deadline())
    assert exc.value.cause == "unconfigured"
