"""A real `hearth serve` process on an ephemeral loopback port, with the real default model."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from assistant.settings import DEFAULT_MODEL
from tests.hearth_cli import HEARTH

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-0123456789"
START_DEADLINE_S = 90.0


@dataclass
class LiveServer:
    """A running `hearth serve` and ways to talk to it."""

    url: str
    proc: subprocess.Popen
    api_key: str | None
    output: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def client(self, **kwargs):
        from openai import OpenAI

        kwargs.setdefault("api_key", self.api_key or "unused")
        return OpenAI(base_url=self.base_url, max_retries=0, timeout=60, **kwargs)

    def async_client(self, **kwargs):
        from openai import AsyncOpenAI

        kwargs.setdefault("api_key", self.api_key or "unused")
        return AsyncOpenAI(base_url=self.base_url, max_retries=0, timeout=60, **kwargs)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics as {'name{label="v",...}': value}."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.url + "/metrics", headers=self.headers(), timeout=10).text
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def wait_metric(self, name: str, predicate, deadline_s: float = 15.0) -> float:
        """Poll /metrics until `predicate(value)` holds (fails past the deadline)."""
        end = time.monotonic() + deadline_s
        value = None
        while time.monotonic() < end:
            value = self.metrics().get(name, 0.0)
            if predicate(value):
                return value
            time.sleep(0.05)
        raise AssertionError(f"{name} stayed at {value} for {deadline_s} s")

    def log_text(self) -> str:
        return "".join(self.output)


def _pump(stream, sink: list[str], url_box: list[str], ready: threading.Event) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line)
        if not url_box and "serving on http" in line:
            url_box.append(line.split("serving on ", 1)[1].split()[0])
            ready.set()
    ready.set()


def start_server(model: str, home: Path, *args: str, api_key: str | None = API_KEY, threads: int = 1) -> LiveServer:
    """Start `hearth serve --port 0` and wait (with a deadline) until /health says 200.

    One llama.cpp thread by default: with two, decoding slows down tenfold whenever the other core is busy
    (measured here under load: 32 tokens in ~2 s with one thread, 18-35 s with two)."""
    cmd = [*HEARTH, "serve", "--host", "127.0.0.1",
           "--port", "0", "--model", model, "--home", str(home), "--n-threads", str(threads), *args]
    if api_key:
        cmd += ["--api-key", api_key]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "HEARTH_HOME": str(home),
           "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    url_box: list[str] = []
    got_url = threading.Event()
    threading.Thread(target=_pump, args=(proc.stdout, output, url_box, got_url), daemon=True).start()
    end = time.monotonic() + START_DEADLINE_S
    if not got_url.wait(START_DEADLINE_S) or not url_box:
        proc.kill()
        raise RuntimeError("hearth serve printed no URL:\n" + "".join(output))
    server = LiveServer(url=url_box[0], proc=proc, api_key=api_key, output=output)
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"hearth serve exited with {proc.returncode}:\n" + "".join(output))
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_server(server)
    raise RuntimeError("hearth serve did not become healthy:\n" + "".join(output))


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


@pytest.fixture(scope="session")
def live(default_model_path: Path, model_home: Path) -> Iterator[LiveServer]:
    """The shared server: API key on, 2 slots, queue of 4, 64 KiB bodies, 16 tokens by default, n_ctx 1024."""
    # By catalog id (the fixture made sure it is in the store), so the served id is the catalog's.
    server = start_server(DEFAULT_MODEL, model_home, "--n-ctx", "1024", "--parallel", "2", "--queue-size", "4",
                          "--max-body-bytes", "65536", "--max-tokens", "16", "--aliases", "local",
                          "--aliases", "hearth-test", "--no-escalation-audit")
    yield server
    stop_server(server)


@pytest.fixture
def client(live: LiveServer):
    with live.client() as c:
        yield c
