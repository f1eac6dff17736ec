"""Concurrent streaming clients: `hearth serve --parallel N` against llama.cpp's `llama-server -np N`.

Same GGUF, same threads, same per-slot context, same batch size, flash attention on both, one unified KV
buffer on both (`-kvu`, as Hearth's engine uses), in the same run, rounds alternating between the two servers.
N clients each stream one greedy chat completion of `--max-tokens` tokens (the same prompts for both). For each N:
aggregate tok/s, per-stream tok/s and TTFT p50/p95 (client clock, over HTTP), and each as a ratio to llama-server.

Second scenario (`--cloud-delay S`, Hearth only): one request sent to a loopback cloud that takes S seconds to its
first byte while 3 local requests stream; their TTFT p50 against the same run without the cloud request.

Goals (issue 10): aggregate >= 1.0x llama-server at 4 clients, TTFT p95 no worse, >= 0.97x at 1 client; local TTFT
p50 with the slow cloud within 20% of without.

    bash scripts/build_llama_server.sh           # once: llama-server from the llama.cpp llama-cpp-python vendors
    python3 scripts/bench_concurrency.py --llama-server build/llama.cpp/cmake/bin/llama-server \
        --clients 1,2,4,8 --rounds 3 --max-tokens 128 --threads 2 --out bench-results/bench_concurrency.json

Timings mean something only on a quiet machine (2 decode threads on 2 cores collapse under any other load): the
load average is printed and stored with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.benchlib import (
    chat_body,
    pct,
    start_hearth,
    start_llama_server,
    stop,
    stream_chat,
    stream_round,
    summarise,
    warn_if_loaded,
    write_results,
)


def gguf_path(model: str) -> Path:
    from assistant.runtime import open_store
    from assistant.settings import load_settings

    return open_store(load_settings()).resolve(model)[1]


async def compare(args: argparse.Namespace, n: int, gguf: Path) -> dict:
    """Both servers with N slots; `rounds` rounds of N clients on each, alternating."""
    hearth, hurl = start_hearth(args.model, "--parallel", str(n), "--n-ctx", str(args.n_ctx), "--n-threads",
                                str(args.threads), "--n-batch", str(args.n_batch), "--queue-size", "16")
    llama, lurl = start_llama_server(args.llama_server, gguf, "-np", str(n), "-c", str(args.n_ctx * n), "-kvu",
                                     "-t", str(args.threads), "-tb", str(args.threads), "-b", str(args.n_batch),
                                     "-ub", str(args.n_batch), "-fa", "on")
    out: dict = {"hearth": [], "llama-server": []}
    try:
        async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n + 2)) as client:
            await stream_round(client, hurl, n, 8)  # warm-up: connections, pages, caches
            await stream_round(client, lurl, n, 8)
            for _ in range(args.rounds):
                out["hearth"].append(await stream_round(client, hurl, n, args.max_tokens))
                out["llama-server"].append(await stream_round(client, lurl, n, args.max_tokens))
    finally:
        stop(hearth)
        stop(llama)
    return {name: summarise(rounds) for name, rounds in out.items()}


async def slow_cloud(args: argparse.Namespace) -> dict:
    """Local TTFT of 3 streams, with and without a fourth request waiting on a slow cloud."""
    from tests.escalation.cloud_server import FakeCloud, Fault

    cloud = FakeCloud().start()
    cloud.default_fault = Fault("delay", delay_s=args.cloud_delay)
    wait = str(args.cloud_delay * 4)
    # Thresholds of 1.0: only the explicit request goes to the cloud, the local ones never escalate.
    env = {"HEARTH_CLOUD_BASE_URL": cloud.url, "HEARTH_CLOUD_MODEL": "slow-cloud", "HEARTH_CLOUD_DEADLINE_S": wait,
           "HEARTH_CLOUD_READ_TIMEOUT_S": wait, "HEARTH_ESCALATION_THRESHOLD": "1.0",
           "HEARTH_ESCALATION_COMPLETE_THRESHOLD": "1.0"}
    proc, url = start_hearth(args.model, "--parallel", "4", "--n-ctx", str(args.n_ctx), "--n-threads",
                             str(args.threads), env=env)
    result: dict = {"with_cloud": [], "without": []}
    try:
        async with httpx.AsyncClient(timeout=600) as client:
            await stream_round(client, url, 3, 8)
            for _ in range(args.rounds):
                result["without"].append(await stream_round(client, url, 3, args.max_tokens))
                t0 = time.perf_counter()
                cloud_task = asyncio.create_task(stream_chat(client, url, chat_body(7, 16, model="cloud"), t0))
                await asyncio.sleep(0.05)  # the cloud request is in flight first
                result["with_cloud"].append(await stream_round(client, url, 3, args.max_tokens))
                result.setdefault("cloud_ttft_s", []).append((await cloud_task)["ttft_s"])
    finally:
        stop(proc)
        cloud.stop()
    with_p50 = pct([s["ttft_s"] for r in result["with_cloud"] for s in r], 0.5)
    without_p50 = pct([s["ttft_s"] for r in result["without"] for s in r], 0.5)
    return {"local_ttft_p50_ms_with_cloud": 1000 * with_p50, "local_ttft_p50_ms_without": 1000 * without_p50,
            "ratio": with_p50 / without_p50, "cloud_ttft_s": result["cloud_ttft_s"]}


def print_table(results: dict) -> None:
    print(f"load average before {results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f}")
    head = (f"{'N':>2} {'server':<13} {'agg tok/s':>10} {'stream tok/s':>13} {'TTFT p50':>10} {'TTFT p95':>10} "
            f"{'tokens':>7}")
    print(head)
    print("-" * len(head))
    for n, r in results["clients"].items():
        for name in ("hearth", "llama-server"):
            s = r[name]
            print(f"{n:>2} {name:<13} {s['aggregate_tok_s']:>10.1f} {s['per_stream_tok_s']:>13.1f} "
                  f"{s['ttft_p50_ms']:>8.0f}ms {s['ttft_p95_ms']:>8.0f}ms {s['tokens']:>7}")
        q = r["ratio"]
        print(f"{n:>2} {'ratio':<13} {q['aggregate']:>9.3f}x {q['per_stream']:>12.3f}x {q['ttft_p50']:>9.3f}x "
              f"{q['ttft_p95']:>9.3f}x")
    if "slow_cloud" in results:
        c = results["slow_cloud"]
        print(f"slow cloud: local TTFT p50 {c['local_ttft_p50_ms_with_cloud']:.0f} ms with a request waiting on "
              f"the cloud, {c['local_ttft_p50_ms_without']:.0f} ms without ({c['ratio']:.3f}x)")


def ratios(h: dict, ll: dict) -> dict:
    return {"aggregate": h["aggregate_tok_s"] / ll["aggregate_tok_s"],
            "per_stream": h["per_stream_tok_s"] / ll["per_stream_tok_s"],
            "ttft_p50": h["ttft_p50_ms"] / ll["ttft_p50_ms"], "ttft_p95": h["ttft_p95_ms"] / ll["ttft_p95_ms"]}


async def run(args: argparse.Namespace) -> dict:
    results: dict = {"settings": vars(args), "load_before": os.getloadavg(), "clients": {}}
    gguf = gguf_path(args.model)
    for n in [int(c) for c in args.clients.split(",")]:
        r = await compare(args, n, gguf)
        r["ratio"] = ratios(r["hearth"], r["llama-server"])
        results["clients"][n] = r
    if args.cloud_delay > 0:
        results["slow_cloud"] = await slow_cloud(args)
    results["load_after"] = os.getloadavg()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-server", required=True, help="path of llama.cpp's llama-server")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=1024, help="context per slot")
    ap.add_argument("--n-batch", type=int, default=512)
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--cloud-delay", type=float, default=5.0, help="0 skips the slow-cloud scenario")
    ap.add_argument("--out", default="bench-results/bench_concurrency.json")
    args = ap.parse_args()
    warn_if_loaded()
    results = asyncio.run(run(args))
    print_table(results)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
