#!/usr/bin/env python3
"""The Python half of scripts/gpu_check.sh: how fast is Hearth's own engine on this GPU, next to llama.cpp's
`llama-bench` on the same GGUF and GPU, and next to the memory-bandwidth bound?

    python3 scripts/gpu_check.py --model M.gguf [--shape 7b|tiny] [--llama-bench PATH] [--out DIR]

Three measurements of one model, all layers on the GPU, flash attention, a 512-token prompt and 128 generated tokens
(decode after the prompt, so at the same depth everywhere):
  - llama-bench: pp512, and tg128 at depth 512 (`-d 512`; without it on builds that lack the option, said so);
  - a bare decode loop through llama-cpp-python's C API (no sampling, no Python text work): the bindings' cost;
  - Hearth's engine through `load_engine` and `generate`: the C sampler chain with the default settings, top-5
    log-probabilities and the entropy of every token, stop-string and UTF-8 handling, read as the event stream.
The model file is written (random weights, 7B-shaped Q4_K_M, scripts/synthetic_gguf.py) when it does not exist.
Writes gpu_check-DEVICE.json and gpu-check.md (a section for docs/gpu-check.md, with the date and the device).
`--shape tiny --gpu-layers 0` runs the whole script on a CPU in seconds (llama-bench is skipped without a path).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from gpu_report import markdown, smi_gpu
from synthetic_gguf import SHAPES, write_synthetic

ATTEMPTS = 8  # generations tried per measured run: a random-weight model may sample its end token early


def run_llama_bench(binary: Path, model: Path, prompt: int, gen: int, gpu_layers: int, threads: int) -> dict:
    """llama-bench's pp and tg tokens/s (mean of its repetitions) and exactly what was run."""
    base = [str(binary), "-m", str(model), "-ngl", str(gpu_layers), "-t", str(threads), "-r", "3", "-o", "json"]
    out: dict = {}
    for name, args in (("pp", ["-p", str(prompt), "-n", "0"]), ("tg", ["-p", "0", "-n", str(gen)])):
        tries = [args + ["-fa", "1"], args]
        if name == "tg":
            tries = [args + ["-fa", "1", "-d", str(prompt)], *tries]
        for cmd in ([*base, *t] for t in tries):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode == 0:
                row = json.loads(proc.stdout)[0]
                out[name] = {"tok_s": round(float(row["avg_ts"]), 1), "stddev": round(float(row["stddev_ts"]), 1),
                             "depth": int(row.get("n_depth", 0)), "command": " ".join(cmd[1:])}
                out.setdefault("build", f"{row.get('build_commit', '?')} ({row.get('backends', '?')})")
                break
            sys.stderr.write(f"llama-bench {' '.join(cmd[1:])} failed:\n{proc.stderr[-1500:]}\n")
        else:
            raise SystemExit("llama-bench failed every way it was tried")
    return out


def measure_bare_loop(path: Path, prompt: int, gen: int, n_gpu_layers: int, threads: int) -> dict:
    """Decode tok/s of a token-by-token loop through llama.cpp's C API (no sampling, no Python text work)."""
    import llama_cpp as L

    from assistant.engine.llamacpp_load import init_backend, load_model

    init_backend()
    model = load_model(path, n_gpu_layers)
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = 4096, 512, 512
    cp.n_threads = cp.n_threads_batch = threads
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_AUTO  # off if the build has no FA kernels
    ctx = L.llama_init_from_model(model, cp)
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    toks = (L.llama_token * prompt)(*[259 + (i * 7919) % (n_vocab - 259) for i in range(prompt)])
    for _ in range(2):  # the first prefill allocates and warms up; the second is timed
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        t0 = time.perf_counter()
        assert L.llama_decode(ctx, L.llama_batch_get_one(toks, prompt)) == 0
        L.llama_synchronize(ctx)
        prefill_s = time.perf_counter() - t0
    one = (L.llama_token * 1)(n_vocab - 1)
    for _ in range(4):  # warm-up (CUDA graphs are captured on the first decodes)
        assert L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) == 0
    L.llama_synchronize(ctx)
    t0 = time.perf_counter()
    for _ in range(gen):
        assert L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) == 0
        L.llama_get_logits_ith(ctx, -1)
        L.llama_synchronize(ctx)
    decode_s = time.perf_counter() - t0
    L.llama_free(ctx)
    L.llama_model_free(model)
    return {"prefill_tok_s": round(prompt / prefill_s, 1), "decode_tok_s": round(gen / decode_s, 1),
            "gpu_offload": bool(L.llama_supports_gpu_offload())}


def _prompt_of(engine, tokens: int) -> str:
    """A raw-text prompt of about `tokens` tokens for this model's tokenizer."""
    words = " ".join(f"w{i % 97} the quick brown fox" for i in range(tokens))
    chars = len(words)
    for _ in range(6):
        n = engine.count_tokens(words[:chars])
        if abs(n - tokens) <= 2:
            break
        chars = max(1, int(chars * tokens / max(n, 1)))
    return words[:chars]


def measure_hearth(path: Path, prompt: int, gen: int, n_gpu_layers: int, threads: int, runs: int) -> dict:
    """Hearth's engine as the server uses it: prefill and decode tok/s, timed where the event stream is read."""
    from assistant.engine.events import Finish, TokenEvent
    from assistant.engine.sampling import SamplingParams
    from assistant.runtime import load_engine
    from assistant.settings import load_settings

    home = Path(tempfile.mkdtemp(prefix="hearth-gpu-check-"))
    settings = load_settings(model=str(path), home=home, engine={
        "n_ctx": 4096, "n_batch": 512, "n_gpu_layers": n_gpu_layers, "flash_attn": True, "n_threads": threads})
    engine = load_engine(settings)
    text = _prompt_of(engine, prompt)
    n_prompt = engine.count_tokens(text)
    prefill, decode, seed = [], [], 0
    try:
        for run in range(runs + 1):  # the first is a warm-up
            for _ in range(ATTEMPTS):
                seed += 1
                params = SamplingParams(max_tokens=gen, seed=seed, top_logprobs=5)
                # A different first word each time: no KV-cache prefix reuse between runs.
                stamps, finish = [], None
                for event in engine.generate(f"{seed} {text}", params):
                    if isinstance(event, TokenEvent):
                        stamps.append(time.perf_counter())
                    elif isinstance(event, Finish):
                        finish = event
                if len(stamps) >= gen // 2 and finish is not None:
                    break
            else:
                raise SystemExit(f"every generation ended before {gen // 2} tokens")
            if run:
                prefill.append(finish.usage.prompt_tokens / finish.timings.prefill_s)
                decode.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    finally:
        engine.close()
    return {"prefill_tok_s": round(statistics.median(prefill), 1), "decode_tok_s": round(statistics.median(decode), 1),
            "decode_runs": [round(x, 1) for x in decode], "prompt_tokens": n_prompt}


def _device(a: argparse.Namespace):
    from assistant.devices import detect

    home = Path(tempfile.mkdtemp(prefix="hearth-gpu-check-home-"))
    profile = detect(home, host_bandwidth_gbs=None if a.shape == "7b" else 10.0)
    if profile.kind == "cpu" and (gpu := smi_gpu()) is not None:
        profile = detect(home, gpus=[gpu], host_bandwidth_gbs=10.0)  # no nvidia-ml-py here: nvidia-smi names it
    return profile


def main() -> int:
    from assistant.gguf_meta import read_gguf
    from assistant.planner import decode_bound_tok_s, shape_from_gguf

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("/tmp/hearth-synthetic-7b-q4_k_m.gguf"))
    ap.add_argument("--shape", choices=sorted(SHAPES), default="7b", help="shape of the model written if missing")
    ap.add_argument("--llama-bench", type=Path, default=None, help="llama-bench binary of the same llama.cpp")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gpu-layers", type=int, default=999)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    a = ap.parse_args()
    synthetic = not a.model.is_file()
    if synthetic:
        t0 = time.perf_counter()
        write_synthetic(a.model, a.shape)
        print(f"wrote {a.model} ({a.model.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    shape = shape_from_gguf(read_gguf(a.model))
    profile = _device(a)
    bench = run_llama_bench(a.llama_bench, a.model, a.prompt, a.gen, a.gpu_layers, a.threads) \
        if a.llama_bench else None
    bare = measure_bare_loop(a.model, a.prompt, a.gen, a.gpu_layers, a.threads)
    hearth = measure_hearth(a.model, a.prompt, a.gen, a.gpu_layers, a.threads, a.runs)
    on_gpu = bare["gpu_offload"] and profile.has_gpu and a.gpu_layers != 0
    context = hearth["prompt_tokens"] + a.gen // 2
    bound = decode_bound_tok_s(shape, "f16", context, profile.bandwidth_gbs, profile.host_bandwidth_gbs,
                               None if on_gpu else 0)
    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "device": profile.id, "device_name": profile.name,
        "bandwidth_gbs": profile.bandwidth_gbs if on_gpu else profile.host_bandwidth_gbs or profile.bandwidth_gbs,
        "details": profile.details, "on_gpu": on_gpu, "host": platform.node(),
        "model": {"file": a.model.name, "synthetic": synthetic, "shape": a.shape if synthetic else None,
                  "weights_bytes": shape.weights_bytes},
        "prompt_tokens": hearth["prompt_tokens"], "gen_tokens": a.gen, "llama_bench": bench, "bare_loop": bare,
        "hearth": hearth, "decode_bound_tok_s": round(bound, 1),
        "hearth_vs_llama_bench": None if bench is None else {
            "prefill": round(hearth["prefill_tok_s"] / bench["pp"]["tok_s"], 3),
            "decode": round(hearth["decode_tok_s"] / bench["tg"]["tok_s"], 3)},
        "hearth_share_of_bound": round(hearth["decode_tok_s"] / bound, 3),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"gpu_check-{profile.id}.json").write_text(json.dumps(report, indent=2))
    section = markdown(report)
    (a.out / "gpu-check.md").write_text(section)
    print(section)
    print(f"wrote {a.out / f'gpu_check-{profile.id}.json'} and {a.out / 'gpu-check.md'} (append it to docs/gpu-check.md)")
    return 0 if on_gpu or a.gpu_layers == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
