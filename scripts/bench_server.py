"""Benchmark `hearth serve` against the same workload run in-process through the Assistant.

N concurrent streaming clients (default 1, 2, 4) send greedy chat requests to a real `hearth serve` process; the
same requests then run through `Assistant.stream` in this process, submitted together and served one after another
exactly as the server's scheduler serves them. Prints time to first token (p50/p95), aggregate and per-stream decode
rates and the HTTP/in-process ratios; writes everything to JSON.

Goals: the HTTP path loses <= 5% decode throughput and adds <= 10 ms p50 TTFT.

    python3 scripts/bench_server.py --clients 1,2,4 --rounds 3 --max-tokens 128 --out bench-results/bench_server.json

Timings are only meaningful on a quiet machine: the load average is printed and stored with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROMPTS = ["Write a long story about a lighthouse keeper.", "Explain in detail how bread is baked.",
           "Describe a journey through a forest, step by step.", "Write a long letter to a friend about autumn."]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def request_body(i: int, max_tokens: int) -> dict:
    return {"model": "local", "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            "max_tokens": max_tokens, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}


# -- HTTP ------------------------------------------------------------------------------------------------------
def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "assistant.cli", "serve", "--port", "0",
           "--model", args.model, "--n-threads", str(args.threads), "--n-ctx", str(args.n_ctx),
           "--queue-size", "16", "--no-escalation-audit"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(box[0] + "/health", timeout=2).status_code == 200:
                return proc, box[0]
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("hearth serve did not become healthy")


async def http_stream(client: httpx.AsyncClient, url: str, body: dict, t0: float) -> dict:
    first = last = None
    tokens = 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
    return {"t0": t0, "ttft_s": first - t0, "first": first, "last": last, "tokens": tokens}


async def http_round(client: httpx.AsyncClient, url: str, n: int, max_tokens: int) -> list[dict]:
    t0 = time.perf_counter()
    return list(await asyncio.gather(*(http_stream(client, url, request_body(i, max_tokens), t0)
                                       for i in range(n))))


# -- in-process ------------------------------------------------------------------------------------------------
def inproc_round(assistant, n: int, max_tokens: int) -> list[dict]:
    from assistant.assistant import ChatRequest
    from assistant.engine.events import ChatMessage, Finish, TextDelta

    t0 = time.perf_counter()
    results = []
    for i in range(n):  # submitted together at t0, served in order (as the server's one worker does)
        body = request_body(i, max_tokens)
        params = assistant.settings.sampling.model_copy(update={"temperature": 0.0, "max_tokens": max_tokens})
        req = ChatRequest(messages=[ChatMessage(**m) for m in body["messages"]], params=params)
        first = last = None
        tokens = 0
        for event in assistant.stream(req):
            if isinstance(event, TextDelta) and event.text:
                now = time.perf_counter()
                first = first or now
                last = now
            elif isinstance(event, Finish):
                tokens = event.usage.completion_tokens
        results.append({"t0": t0, "ttft_s": first - t0, "first": first, "last": last, "tokens": tokens})
    return results


# -- summary ---------------------------------------------------------------------------------------------------
def summarise(rounds: list[list[dict]]) -> dict:
    ttfts = [s["ttft_s"] for r in rounds for s in r]
    per_stream = [(s["tokens"] - 1) / (s["last"] - s["first"]) for r in rounds for s in r
                  if s["tokens"] > 1 and s["last"] > s["first"]]
    # Aggregate: every token of a round over the wall time from submitting it to its last token.
    aggregate = [sum(s["tokens"] for s in r) / (max(s["last"] for s in r) - r[0]["t0"]) for r in rounds]
    return {"ttft_p50_ms": 1000 * pct(ttfts, 0.5), "ttft_p95_ms": 1000 * pct(ttfts, 0.95),
            "per_stream_tok_s": statistics.median(per_stream) if per_stream else float("nan"),
            "aggregate_tok_s": statistics.median(aggregate), "streams": len(ttfts),
            "tokens": sum(s["tokens"] for r in rounds for s in r)}


async def measure(args: argparse.Namespace, url: str, assistant, clients: list[int], results: dict) -> None:
    # One client for the whole run, as an application keeps its SDK client (and its keep-alive connections).
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=max(clients) + 1)) as client:
        await http_round(client, url, max(clients), 8)  # warm-up: connections, caches, both paths
        inproc_round(assistant, 1, 8)
        for n in clients:
            http_rounds, inproc_rounds = [], []
            # Alternate the two paths round by round, so a change in machine load hits both alike.
            for _ in range(args.rounds):
                http_rounds.append(await http_round(client, url, n, args.max_tokens))
                inproc_rounds.append(inproc_round(assistant, n, args.max_tokens))
            results["http"][n] = summarise(http_rounds)
            results["inproc"][n] = summarise(inproc_rounds)


def run(args: argparse.Namespace) -> dict:
    from assistant.runtime import build_assistant
    from assistant.settings import load_settings

    clients = [int(c) for c in args.clients.split(",")]
    results: dict = {"settings": vars(args), "load_before": os.getloadavg(), "http": {}, "inproc": {}}
    proc, url = start_server(args)
    settings = load_settings(model=args.model, engine={"n_threads": args.threads, "n_ctx": args.n_ctx},
                             escalation={"audit": False})
    assistant = build_assistant(settings)
    try:
        asyncio.run(measure(args, url, assistant, clients, results))
    finally:
        proc.terminate()
        proc.wait(30)
        assistant.engine.close()
    results["load_after"] = os.getloadavg()
    results["ratios"] = {n: {"per_stream_decode": results["http"][n]["per_stream_tok_s"] /
                             results["inproc"][n]["per_stream_tok_s"],
                             "aggregate_decode": results["http"][n]["aggregate_tok_s"] /
                             results["inproc"][n]["aggregate_tok_s"],
                             "ttft_p50_delta_ms": results["http"][n]["ttft_p50_ms"] -
                             results["inproc"][n]["ttft_p50_ms"]} for n in clients}
    return results


def print_table(results: dict) -> None:
    print(f"load average before {results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f}")
    head = (f"{'N':>2} {'path':<8} {'TTFT p50':>9} {'TTFT p95':>9} {'stream tok/s':>13} {'agg tok/s':>10} "
            f"{'tokens':>7}")
    print(head)
    print("-" * len(head))
    for n in results["ratios"]:
        for path in ("http", "inproc"):
            r = results[path][n]
            print(f"{n:>2} {path:<8} {r['ttft_p50_ms']:>7.1f}ms {r['ttft_p95_ms']:>7.1f}ms "
                  f"{r['per_stream_tok_s']:>13.1f} {r['aggregate_tok_s']:>10.1f} {r['tokens']:>7}")
        q = results["ratios"][n]
        print(f"{n:>2} {'http/in':<8} {q['ttft_p50_delta_ms']:>+7.1f}ms {'':>9} "
              f"{q['per_stream_decode']:>12.3f}x {q['aggregate_decode']:>9.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--clients", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", default="bench-results/bench_server.json")
    args = parser.parse_args()
    if os.getloadavg()[0] > 1.5:
        print(f"warning: load average {os.getloadavg()[0]:.2f}; timings will be noisy", file=sys.stderr)
    results = run(args)
    print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
