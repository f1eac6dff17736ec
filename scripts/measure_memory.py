#!/usr/bin/env python3
"""Predicted vs measured resident memory of a model (default: Hearth's default model) for n_ctx 512/2048/8192 and
each KV type (f16, q8_0, q4_0), every load in its own process. Also checks the planner's KV-cache and compute-buffer
formulas against the sizes llama.cpp itself logs. Prints a table and writes JSON.

    python3 scripts/measure_memory.py [--model PATH] [--ctx 512 2048 8192] [--out bench-results/memory.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.gguf_meta import read_gguf
from assistant.planner import PlanRequest, kv_bytes, reserved_compute_bytes, resident_bytes, shape_from_gguf
from assistant.planner.measure import measure_in_subprocess
from assistant.runtime import open_store
from assistant.settings import DEFAULT_MODEL, load_settings

MIB = 1024 * 1024


def default_model() -> Path:
    store = open_store(load_settings())
    stored = store.get(DEFAULT_MODEL) or store.pull(DEFAULT_MODEL)
    return stored.path


def row(model: Path, n_ctx: int, kv: str, prompt_tokens: int, threads: int) -> dict:
    shape = shape_from_gguf(read_gguf(model))
    req = PlanRequest(n_ctx=n_ctx, kv_type=kv, flash_attn=True, prompt_tokens=prompt_tokens)
    m = measure_in_subprocess(model, n_ctx, kv, flash_attn=True, prompt_tokens=prompt_tokens, threads=threads)
    predicted = resident_bytes(shape, req)
    return {
        "n_ctx": n_ctx, "kv_type": kv, "predicted_bytes": predicted, "measured_bytes": m["peak_bytes"],
        "error": (predicted - m["peak_bytes"]) / m["peak_bytes"],
        "kv_predicted_mib": kv_bytes(shape, n_ctx, kv) / MIB, "kv_llama_mib": m["kv_mib"],
        "compute_predicted_mib": reserved_compute_bytes(shape, n_ctx, 512, True) / MIB,
        "compute_llama_mib": m["compute_mib"], "prompt_tokens": m["prompt_tokens"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="GGUF file (default: the default model, pulled if missing)")
    ap.add_argument("--ctx", type=int, nargs="+", default=[512, 2048, 8192])
    ap.add_argument("--kv", nargs="+", default=["f16", "q8_0", "q4_0"])
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench-results/memory.json"))
    a = ap.parse_args()
    model = a.model or default_model()
    rows = [row(model, c, kv, a.prompt_tokens, a.threads) for kv in a.kv for c in a.ctx]
    print(f"{'n_ctx':>6} {'KV':>5} | {'predicted':>10} {'measured':>10} {'error':>7} | "
          f"{'KV plan':>8} {'KV llama':>8} | {'compute plan':>12} {'llama':>7}  (MiB)")
    for r in rows:
        print(f"{r['n_ctx']:>6} {r['kv_type']:>5} | {r['predicted_bytes'] / MIB:>10.1f} "
              f"{r['measured_bytes'] / MIB:>10.1f} {r['error']:>+7.1%} | {r['kv_predicted_mib']:>8.2f} "
              f"{r['kv_llama_mib'] or float('nan'):>8.2f} | {r['compute_predicted_mib']:>12.2f} "
              f"{r['compute_llama_mib'] or float('nan'):>7.2f}")
    worst = max(abs(r["error"]) for r in rows)
    print(f"worst error {worst:.1%} (limit 15%)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"model": str(model), "host": platform.node(), "time": time.time(),
                                 "prompt_tokens": a.prompt_tokens, "rows": rows}, indent=2))
    print(f"wrote {a.out}")
    return 0 if worst <= 0.15 else 1


if __name__ == "__main__":
    sys.exit(main())
