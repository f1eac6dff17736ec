"""Benchmark `hearth serve` against the same workload run in-process through the Assistant.

N concurrent streaming clients (default 1, 2, 4) send greedy chat requests to a real `hearth serve` process; the
same requests then run through `Assistant.stream` in this process, one thread per stream, batched by the same core
scheduler. Prints time to first token (p50/p95), aggregate and per-stream decode
rates and the HTTP/in-process ratios; writes everything to JSON.

Goals: the HTTP path loses <= 5% decode throughput and adds <= 10 ms p50 TTFT.

    python3 scripts/bench_server.py --clients 1,2,4 --rounds 3 --max-tokens 128 --out bench-results/bench_server.json

Timings are only meaningful on a quiet machine: the load average is printed and stored with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.benchlib import (
    chat_body,
    start_hearth,
    stop,
    stream_round,
    summarise,
    warn_if_loaded,
    write_results,
)


# -- HTTP ------------------------------------------------------------------------------------------------------
def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    return start_hearth(args.model, "--n-threads", str(args.threads), "--n-ctx", str(args.n_ctx),
                        "--queue-size", "16")


# -- in-process ------------------------------------------------------------------------------------------------
def inproc_stream(assistant, i: int, max_tokens: int, t0: float) -> dict:
    from assistant.assistant import ChatRequest
    from assistant.engine.events import ChatMessage, Finish, TextDelta

    body = chat_body(i, max_tokens)
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
    return {"t0": t0, "ttft_s": first - t0, "first": first, "last": last, "tokens": tokens}


def inproc_round(assistant, n: int, max_tokens: int) -> list[dict]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:  # one thread per stream, as the server's choices run
        return list(pool.map(lambda i: inproc_stream(assistant, i, max_tokens, t0), range(n)))


# -- summary ---------------------------------------------------------------------------------------------------
async def measure(args: argparse.Namespace, url: str, assistant, clients: list[int], results: dict) -> None:
    # One client for the whole run, as an application keeps its SDK client (and its keep-alive connections).
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=max(clients) + 1)) as client:
        await stream_round(client, url, max(clients), 8)  # warm-up: connections, caches, both paths
        inproc_round(assistant, 1, 8)
        for n in clients:
            http_rounds, inproc_rounds = [], []
            # Alternate the two paths round by round, so a change in machine load hits both alike.
            for _ in range(args.rounds):
                http_rounds.append(await stream_round(client, url, n, args.max_tokens))
                inproc_rounds.append(inproc_round(assistant, n, args.max_tokens))
            results["http"][n] = summarise(http_rounds)
            results["inproc"][n] = summarise(inproc_rounds)


def run(args: argparse.Namespace) -> dict:
    from assistant.runtime import build_assistant, shutdown
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
        stop(proc)
        shutdown(assistant)
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
    warn_if_loaded()
    results = run(args)
    print_table(results)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
