"""Helpers shared by the HTTP benchmarks: percentiles, one streamed request timed by the client, round
summaries, and starting `hearth serve` / `llama-server` on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


# Long-answer prompts, so every stream runs to its token limit (the same prompts for every contender).
PROMPTS = ["Write a long story about a lighthouse keeper.", "Explain in detail how bread is baked.",
           "Describe a journey through a forest, step by step.", "Write a long letter to a friend about autumn.",
           "Tell me everything about the history of clocks.", "Describe your ideal garden in great detail.",
           "Write a long poem about the sea.", "Explain how a bicycle works, part by part."]


def chat_body(i: int, max_tokens: int, model: str = "local") -> dict:
    """Client i's streamed greedy chat request (prompt i modulo the set), with the usage chunk."""
    return {"model": model, "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            "max_tokens": max_tokens, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}


async def stream_round(client: httpx.AsyncClient, url: str, n: int, max_tokens: int) -> list[dict]:
    """n clients at once, client i sending `chat_body(i, ...)`; `stream_chat`'s result for each, timed from one
    start."""
    t0 = time.perf_counter()
    return list(await asyncio.gather(*(stream_chat(client, url, chat_body(i, max_tokens), t0) for i in range(n))))


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) by linear interpolation between order statistics: numpy's default `linear`
    method (Hyndman and Fan's type 7), the one definition every benchmark's p50/p95 uses; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def stream_chat(client: httpx.AsyncClient, url: str, body: dict, t0: float) -> dict:
    """POST a streamed chat completion; returns when its first and last content arrived (client clock) and the
    completion tokens the server reported (usage chunk)."""
    first = last = None
    tokens = chunks = 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if (choice.get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    chunks += 1
    first = first or time.perf_counter()
    return {"t0": t0, "ttft_s": first - t0, "first": first, "last": last or first, "tokens": tokens or chunks}


def summarise(rounds: list[list[dict]]) -> dict:
    """TTFT p50/p95 over every stream, per-stream decode rate (median), aggregate rate (median over rounds: all
    tokens of a round over the wall time from submitting it to its last token)."""
    ttfts = [s["ttft_s"] for r in rounds for s in r]
    per_stream = [(s["tokens"] - 1) / (s["last"] - s["first"]) for r in rounds for s in r
                  if s["tokens"] > 1 and s["last"] > s["first"]]
    aggregate = [sum(s["tokens"] for s in r) / (max(s["last"] for s in r) - r[0]["t0"]) for r in rounds]
    return {"ttft_p50_ms": 1000 * pct(ttfts, 0.5), "ttft_p95_ms": 1000 * pct(ttfts, 0.95),
            "per_stream_tok_s": statistics.median(per_stream) if per_stream else float("nan"),
            "aggregate_tok_s": statistics.median(aggregate), "streams": len(ttfts),
            "tokens": sum(s["tokens"] for r in rounds for s in r)}


def warn_if_loaded() -> None:
    """Timings taken under load are noise on 2 cores: say so before measuring."""
    if os.getloadavg()[0] > 1.5:
        print(f"warning: load average {os.getloadavg()[0]:.2f}; timings will be noisy", file=sys.stderr)


def write_results(path: str, results: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{proc.args[0]} did not become healthy")


def start_hearth(model: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`hearth serve --port 0 --model MODEL ARGS...`; returns the process and its base URL once healthy."""
    cmd = [sys.executable, "-m", "assistant.cli", "serve", "--port", "0", "--model", model,
           "--no-escalation-audit", *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    box: list[str] = []
    got = threading.Event()

    def pump() -> None:
        for line in iter(proc.stdout.readline, ""):
            if not box and "serving on http" in line:
                box.append(line.split("serving on ", 1)[1].split()[0])
                got.set()
        got.set()

    threading.Thread(target=pump, daemon=True).start()
    if not got.wait(120) or not box:
        proc.kill()
        raise SystemExit("hearth serve printed no URL")
    wait_healthy(proc, box[0])
    return proc, box[0]


def start_llama_server(binary: str, gguf: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """llama.cpp's server on a free loopback port with ARGS; `--no-repack` because this project's Xeons crash in
    llama.cpp's AMX repacked buffers with quantized weights."""
    port = free_port()
    cmd = [binary, "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "--no-repack", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
