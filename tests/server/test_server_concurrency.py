"""Many clients at once against a real `hearth serve`: slots freed by leaving clients, a slow cloud that holds only
its own request, and a soak with random disconnects."""

from __future__ import annotations

import os
import random
import threading
import time

import httpx
import psutil
import pytest
from conftest import start_server, stop_server

from assistant.settings import DEFAULT_MODEL
from tests.escalation.cloud_server import FakeCloud, Fault

MSG = [{"role": "user", "content": "Write a long story about a dragon."}]
# The 5 minutes; CI shortens it to keep its whole run under 30 minutes.
SOAK_S = float(os.environ.get("HEARTH_SOAK_S", "300"))


def slots(live) -> dict:
    return httpx.get(live.url + "/health", timeout=10).json()["slots"]


def wait_slots_free(live, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while (s := slots(live))["busy"] or s["waiting"]:
        assert time.monotonic() < end, f"slots still busy: {s}"
        time.sleep(0.05)


def test_a_client_that_disconnects_mid_stream_frees_its_slot(live):
    body = {"model": "local", "messages": MSG, "max_tokens": 400, "stream": True}
    with httpx.stream("POST", live.base_url + "/chat/completions", json=body, headers=live.headers(),
                      timeout=60) as r:
        lines = r.iter_lines()
        while not next(lines).startswith('data: {"id"') or slots(live)["busy"] == 0:
            pass
        assert slots(live)["busy"] == 1
    wait_slots_free(live)
    assert live.metrics()["hearth_requests_in_flight"] == 0


@pytest.fixture
def cloud_server(default_model_path, model_home):
    cloud = FakeCloud().start()
    cloud.default_fault = Fault("hold", delay_s=60)
    server = start_server(DEFAULT_MODEL, model_home, "--n-ctx", "1024", "--parallel", "4", "--max-tokens", "8",
                          "--cloud-base-url", cloud.url, "--cloud-model", "big", "--cloud-deadline-s", "90",
                          "--cloud-read-timeout-s", "90",
                          # Never low confidence: the local requests below are non-streamed, scored by their own
                          # (`complete`) threshold, and one that escalated would wait on the held cloud.
                          "--escalation-threshold", "1.0", "--escalation-complete-threshold", "1.0",
                          "--no-escalation-audit", api_key=None)
    yield server, cloud
    cloud.release.set()
    stop_server(server)
    cloud.stop()


def test_a_slow_cloud_holds_only_its_own_request(cloud_server):
    server, cloud = cloud_server
    cloud_reply: dict = {}

    def ask_cloud() -> None:
        r = httpx.post(server.base_url + "/chat/completions", timeout=120,
                       json={"model": "cloud", "messages": [{"role": "user", "content": "hello"}]})
        cloud_reply.update(status=r.status_code, route=r.headers.get("x-hearth-route"), at=time.monotonic(),
                           text=r.json()["choices"][0]["message"]["content"])

    asker = threading.Thread(target=ask_cloud, daemon=True)
    asker.start()
    end = time.monotonic() + 30
    while not cloud.received:  # the cloud request is in flight (held by the cloud)
        assert time.monotonic() < end
        time.sleep(0.02)
    with httpx.Client(timeout=120) as client:
        replies = [client.post(server.base_url + "/chat/completions",
                               json={"model": "local", "messages": MSG, "max_tokens": 8}) for _ in range(3)]
    assert [(r.status_code, r.headers.get("x-hearth-route")) for r in replies] == [(200, "local")] * 3
    assert not cloud_reply, "the local requests waited for the cloud"
    # The cloud request holds no slot while it waits (the last local slot is freed just after its reply is sent).
    wait_slots_free(server, 10)
    assert not cloud_reply
    cloud.release.set()
    asker.join(60)
    assert cloud_reply["status"] == 200 and cloud_reply["route"] == "cloud"
    assert cloud_reply["text"].startswith("CLOUD SAYS")


def _soak_client(url: str, stop_at: float, seed: int, errors: list[str], counts: list[int]) -> None:
    rng = random.Random(seed)
    with httpx.Client(timeout=120) as client:
        while time.monotonic() < stop_at:
            body = {"model": "local", "messages": MSG, "max_tokens": rng.choice([8, 32, 64]), "stream": True,
                    "seed": rng.randrange(1000)}
            leave_after = rng.choice([None, 1, 3, 10])  # None: read to the end; else disconnect after N lines
            try:
                with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
                    if r.status_code != 200:
                        errors.append(f"status {r.status_code}")
                        continue
                    for i, line in enumerate(r.iter_lines()):
                        if '"error"' in line:
                            errors.append(line)
                        if leave_after is not None and i >= leave_after:
                            break
                counts.append(1)
            except httpx.HTTPError as exc:
                errors.append(repr(exc))


@pytest.mark.slow
@pytest.mark.timeout(int(SOAK_S) + 300)
def test_soak_four_streams_with_random_disconnects(default_model_path, model_home):
    # The default queue (16): a client that leaves holds its place until the server notices (within a poll, 0.1 s)
    # and the sequence ends at the next step, so four clients reconnecting at once briefly hold more than 4 places.
    server = start_server(DEFAULT_MODEL, model_home, "--n-ctx", "1024", "--parallel", "4",
                          "--no-escalation-audit", api_key=None)
    try:
        proc = psutil.Process(server.proc.pid)
        errors: list[str] = []
        counts: list[int] = []
        warm_end = time.monotonic() + min(30.0, SOAK_S / 5)
        _soak_client(server.url, warm_end, 99, errors, counts)  # reach a steady state first
        rss_start = proc.memory_info().rss
        stop_at = time.monotonic() + SOAK_S
        clients = [threading.Thread(target=_soak_client, args=(server.url, stop_at, i, errors, counts))
                   for i in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(SOAK_S + 120)
        wait_slots_free(server)
        rss_end = proc.memory_info().rss
        assert not errors, errors[:5]
        assert len(counts) > 8
        assert rss_end < rss_start * 1.05, f"resident memory grew from {rss_start >> 20} to {rss_end >> 20} MiB"
        assert server.metrics()["hearth_requests_in_flight"] == 0
    finally:
        stop_server(server)
