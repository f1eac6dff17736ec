#!/usr/bin/env python3
"""Decode speed of Hearth's Engine against llama.cpp anchors, on the same model and machine, in one run.

Each contender runs in its own subprocess (so peak RSS is its own):
  engine      Hearth's LlamaCppEngine (sampling + per-token logprobs + entropy + stop handling)
  highlevel   llama-cpp-python's `Llama.create_completion` (streaming)
  lowlevel    a bare low-level loop: llama_decode + the same C sampler chain, nothing else
  server      llama.cpp's C++ `llama-server` (only with --llama-server PATH), timed over HTTP (streamed) on the
              client's clock like the in-process contenders, not from the server's own timings
Every contender runs with flash attention on and the same weight placement (no AMX/repack buffers). Prints a table with ratios against the chosen anchor and writes JSON.

    python scripts/bench_engine.py [--model ID|PATH] [--tokens 128] [--runs 5] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."
LONG_PROMPT = " ".join(["The history of lighthouses spans many centuries and coastlines."] * 40)


def _model_path(model: str) -> str:
    from assistant.runtime import open_store
    from assistant.settings import load_settings

    settings = load_settings(model=model)
    store = open_store(settings)
    if model == store.catalog.default and store.get(model) is None:
        store.pull(model)
    return str(store.resolve(model)[1])


def _params(tokens: int, seed: int):
    from assistant.engine.sampling import SamplingParams

    return SamplingParams(max_tokens=tokens, seed=seed)


# -- workers (run in a subprocess each) -----------------------------------------------------------------------------
def work_engine(path: str, tokens: int, threads: int, runs: int) -> dict:
    from assistant.engine import ChatMessage, Finish
    from assistant.engine.llamacpp import LlamaCppEngine, LoadConfig

    eng = LlamaCppEngine(Path(path), LoadConfig(n_ctx=2048, n_threads=threads, flash_attn=True))
    rates, ttfts = [], []
    for i in range(runs):
        eng.reset()  # a cold prompt every time, like the other contenders
        fin = [e for e in eng.generate([ChatMessage("user", PROMPT)], _params(tokens, i)) if isinstance(e, Finish)][-1]
        rates.append(fin.timings.decode_tok_s(fin.usage.completion_tokens))
        ttfts.append(fin.timings.ttft_s)
    eng.reset()
    fin = [e for e in eng.generate(LONG_PROMPT, _params(1, 0)) if isinstance(e, Finish)][-1]
    prefill = fin.usage.prompt_tokens / fin.timings.prefill_s
    return {"decode_tok_s": rates, "ttft_s": ttfts, "prefill_tok_s": prefill, "follow_up": _follow_up(eng)}


def _follow_up(eng) -> dict:
    """A conversation's third turn: prompt processing with the cached history versus from scratch."""
    from assistant.engine import ChatMessage, Finish

    history = [ChatMessage("system", "You are a patient teacher.")]
    for q in ("Explain what a lighthouse does.", "Why are they often painted in stripes?"):
        history.append(ChatMessage("user", q))
        text = "".join(getattr(e, "text", "") for e in eng.generate(history, _params(96, 1)))
        history.append(ChatMessage("assistant", text))
    history.append(ChatMessage("user", "And how did keepers live?"))
    warm = [e for e in eng.generate(history, _params(1, 2)) if isinstance(e, Finish)][-1]
    eng.reset()
    cold = [e for e in eng.generate(history, _params(1, 2)) if isinstance(e, Finish)][-1]
    return {"prompt_tokens": warm.usage.prompt_tokens, "cached_tokens": warm.usage.cached_tokens,
            "prefill_ms_cached": 1000 * warm.timings.prefill_s, "prefill_ms_cold": 1000 * cold.timings.prefill_s}


def _no_extra_bufts() -> None:
    # llama.cpp's AMX buffer type crashes on this project's CPUs (assistant/engine/llamacpp_load.py); the anchors
    # must run with the same model placement as the engine, so they start from the engine's model parameters.
    import llama_cpp as L

    from assistant.engine.llamacpp_load import model_params

    def patched():
        return model_params()

    L.llama_model_default_params = patched
    import llama_cpp.llama as high
    high.llama_cpp.llama_model_default_params = patched


def work_highlevel(path: str, tokens: int, threads: int, runs: int) -> dict:
    _no_extra_bufts()
    from llama_cpp import Llama

    llm = Llama(path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, flash_attn=True, verbose=False)
    chat = _chat_text(path)
    rates, ttfts = [], []
    for i in range(runs):
        llm.reset()
        t0 = time.perf_counter()
        first, n = None, 0
        for _chunk in llm.create_completion(chat, max_tokens=tokens, stream=True, seed=i, temperature=0.6,
                                            top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1):
            n += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        ttfts.append(first - t0)
        rates.append((n - 1) / (end - first) if n > 1 else 0.0)
    llm.reset()
    t0 = time.perf_counter()
    n_prompt = len(llm.tokenize(LONG_PROMPT.encode()))
    next(iter(llm.create_completion(LONG_PROMPT, max_tokens=1, stream=True)))
    return {"decode_tok_s": rates, "ttft_s": ttfts, "prefill_tok_s": n_prompt / (time.perf_counter() - t0)}


def work_lowlevel(path: str, tokens: int, threads: int, runs: int) -> dict:
    import llama_cpp as L

    from assistant.engine.llamacpp import LlamaCppEngine, LoadConfig
    from assistant.engine.llamacpp_sampler import build_sampler

    # The engine only loads the weights and tokenizes (its public contract); the loop below is the bare minimum
    # around llama_decode, on a context of its own with the engine's settings (2048 tokens, flash attention).
    eng = LlamaCppEngine(Path(path), LoadConfig(n_ctx=2048, n_threads=threads, flash_attn=True))
    cparams = L.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 2048, 512, 512
    cparams.n_threads = cparams.n_threads_batch = threads
    cparams.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED
    cparams.no_perf = True
    ctx = L.llama_init_from_model(eng.model_handle, cparams)
    vocab = L.llama_model_get_vocab(eng.model_handle)
    from assistant.engine import ChatMessage
    prompt = eng.prompt_tokens([ChatMessage("user", PROMPT)])
    rates, ttfts = [], []
    for i in range(runs):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        smpl = build_sampler(_params(tokens, i), vocab, L.llama_vocab_n_tokens(vocab))
        t0 = time.perf_counter()
        arr = (L.llama_token * len(prompt))(*prompt)
        if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(prompt))) != 0:
            raise RuntimeError("llama_decode failed during prefill")
        one = (L.llama_token * 1)()
        n, first = 0, None
        while n < tokens:
            tok = smpl.sample(ctx, -1)
            n += 1
            if first is None:
                first = time.perf_counter()
            if L.llama_vocab_is_eog(vocab, tok) or n >= tokens:
                break
            one[0] = tok
            L.llama_decode(ctx, L.llama_batch_get_one(one, 1))
        end = time.perf_counter()
        smpl.free()
        ttfts.append(first - t0)
        rates.append((n - 1) / (end - first) if n > 1 else 0.0)
    long = eng.tokenize(LONG_PROMPT)
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    t0 = time.perf_counter()
    for s in range(0, len(long), 512):
        chunk = long[s:s + 512]
        buf = (L.llama_token * len(chunk))(*chunk)  # named: the batch keeps only a raw pointer to it
        if L.llama_decode(ctx, L.llama_batch_get_one(buf, len(chunk))) != 0:
            raise RuntimeError("llama_decode failed during prefill")
    prefill = len(long) / (time.perf_counter() - t0)
    L.llama_free(ctx)
    return {"decode_tok_s": rates, "ttft_s": ttfts, "prefill_tok_s": prefill}


def _chat_text(path: str) -> str:
    from assistant.engine import ChatMessage
    from assistant.engine.chat_template import ChatTemplate
    from assistant.gguf_meta import read_gguf

    return ChatTemplate(read_gguf(Path(path)).chat_template or "").render([ChatMessage("user", PROMPT)])


def _streamed_completion(base: str, body: dict) -> tuple[float, float]:
    """(time to the first streamed token in s, decode tokens/s after it), both on this client's clock."""
    import httpx

    t0 = time.perf_counter()
    first = last = None
    n = 0
    with httpx.stream("POST", base + "/completion", json={**body, "stream": True}, timeout=120) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or not json.loads(line[6:]).get("content"):
                continue
            last = time.perf_counter()
            first = first or last
            n += 1
    if first is None:
        raise RuntimeError("llama-server streamed no token")
    return first - t0, (n - 1) / (last - first) if n > 1 and last > first else 0.0


def work_server(path: str, tokens: int, threads: int, runs: int, binary: str = "") -> dict:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # --no-repack: the same weight placement as the engine (llama.cpp's AMX/repack buffers crash on these CPUs).
    proc = subprocess.Popen([binary, "-m", path, "-c", "2048", "-t", str(threads), "--no-repack", "-fa", "on",
                             "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        rates, ttfts, prefill = [], [], 0.0
        body = {"temperature": 0.6, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1,
                "cache_prompt": False}
        for i in range(runs):
            ttft, rate = _streamed_completion(base, {"prompt": _chat_text(path), "n_predict": tokens, "seed": i,
                                                     **body})
            ttfts.append(ttft)
            rates.append(rate)
        r = httpx.post(base + "/completion", json={"prompt": LONG_PROMPT, "n_predict": 1, **body}, timeout=120).json()
        prefill = r["timings"]["prompt_per_second"]
        with open(f"/proc/{proc.pid}/status") as fh:
            peak = next(int(x.split()[1]) for x in fh if x.startswith("VmHWM"))
        return {"decode_tok_s": rates, "ttft_s": ttfts, "prefill_tok_s": prefill, "peak_rss_mb": peak / 1024}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


WORKERS = {"engine": work_engine, "highlevel": work_highlevel, "lowlevel": work_lowlevel}


def run_worker(mode: str, args: argparse.Namespace, path: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--model", path, "--tokens", str(args.tokens), "--runs",
           str(args.runs), "--threads", str(args.threads)]
    if mode == "server":
        cmd += ["--llama-server", args.llama_server]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} worker failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def summarise(raw: dict) -> dict:
    return {"decode_tok_s": statistics.median(raw["decode_tok_s"]), "ttft_ms": 1000 * statistics.median(raw["ttft_s"]),
            "prefill_tok_s": raw["prefill_tok_s"], "peak_rss_mb": raw["peak_rss_mb"], "runs": raw["decode_tok_s"],
            **({"follow_up": raw["follow_up"]} if "follow_up" in raw else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llama-server", default="", help="path of a llama.cpp llama-server binary to include")
    ap.add_argument("--out", default="bench-results/bench_engine.json")
    ap.add_argument("--worker", choices=[*WORKERS, "server"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = WORKERS.get(args.worker)
        raw = fn(args.model, args.tokens, args.threads, args.runs) if fn else work_server(
            args.model, args.tokens, args.threads, args.runs, args.llama_server)
        raw.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(raw))
        return
    path = _model_path(args.model)
    modes = ["engine", "highlevel", "lowlevel"] + (["server"] if args.llama_server else [])
    results = {m: summarise(run_worker(m, args, path)) for m in modes}
    anchor = "server" if "server" in results else "lowlevel"
    print(f"model {Path(path).name} · {args.tokens} tokens · {args.runs} runs · {args.threads} threads · "
          f"load {os.getloadavg()[0]:.2f} · anchor {anchor}")
    print(f"{'contender':<10} {'decode tok/s':>12} {'vs anchor':>9} {'TTFT ms':>8} {'prefill tok/s':>13} "
          f"{'peak RSS MB':>11}")
    for m, r in results.items():
        ratio = r["decode_tok_s"] / results[anchor]["decode_tok_s"]
        r["ratio_vs_anchor"] = ratio
        print(f"{m:<10} {r['decode_tok_s']:>12.1f} {ratio:>8.2f}x {r['ttft_ms']:>8.1f} {r['prefill_tok_s']:>13.0f} "
              f"{r['peak_rss_mb']:>11.0f}")
    fu = results["engine"].get("follow_up")
    if fu:
        print(f"follow-up turn: {fu['prompt_tokens']} prompt tokens, {fu['cached_tokens']} reused from the KV cache; "
              f"prefill {fu['prefill_ms_cached']:.1f} ms with the cache vs {fu['prefill_ms_cold']:.1f} ms cold")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": path, "tokens": args.tokens, "runs": args.runs, "threads": args.threads,
                               "anchor": anchor, "loadavg": os.getloadavg(), "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
