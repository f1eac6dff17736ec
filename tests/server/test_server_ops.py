"""Health, metrics, logging hygiene and the `hearth serve` command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.hearth_cli import HEARTH

REPO = Path(__file__).resolve().parents[2]


def test_health_and_openapi(live):
    r = httpx.get(live.url + "/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok", "model": "smollm2-135m-instruct", "n_ctx": 1024,
                                                 "slots": {"total": 2, "busy": 0, "waiting": 0}}
    spec = httpx.get(live.url + "/openapi.json", timeout=10).json()
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"} <= set(spec["paths"])


def test_metrics_count_requests_tokens_and_decisions(live, client):
    before = live.metrics()
    client.chat.completions.create(model="local", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    client.models.list()
    after = live.metrics()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('hearth_http_requests_total{route="/v1/chat/completions",status="200"}') == 1
    assert delta('hearth_http_requests_total{route="/v1/models",status="200"}') == 1
    assert delta("hearth_prompt_tokens_total") > 5
    assert 1 <= delta("hearth_completion_tokens_total") <= 3
    assert delta("hearth_time_to_first_token_seconds_count") == 1
    assert delta('hearth_route_decisions_total{reason="default",route="local"}') == 1
    assert after["hearth_queue_depth"] == 0 and after["hearth_requests_in_flight"] == 0
    assert "hearth_decode_tokens_per_second_count" in after


def test_prompt_text_is_not_logged(live, client):
    marker = "zebra-quartz-7781"
    client.chat.completions.create(model="local", messages=[{"role": "user", "content": marker}], max_tokens=2)
    client.completions.create(model="local", prompt=marker, max_tokens=2)
    assert marker not in live.log_text()


def test_serve_with_a_missing_model_fails_cleanly(tmp_path):
    cmd = [*HEARTH, "serve", "--port", "0",
           "--home", str(tmp_path), "--model", "no-such-model"]
    proc = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HEARTH_HOME": str(tmp_path)})
    assert proc.returncode != 0
    assert "no-such-model" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
