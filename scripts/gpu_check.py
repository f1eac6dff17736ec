#!/usr/bin/env python3
"""The Python half of scripts/gpu_check.sh: write a 7B-shaped Q4_K_M GGUF of random weights, measure decode
tokens/s with every layer on the GPU, and compare with the memory planner's bandwidth bound for this device.

    python3 scripts/gpu_check.py --model /tmp/synth-7b.gguf [--shape 7b|tiny] [--out DIR]

The weights are random bytes with valid block scales, in llama.cpp's Q4_K_M layout (Q6_K for the output matrix
and for attn_v/ffn_down of the layers llama.cpp gives more bits); speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = {
    # Llama-2-7B: 32 blocks, hidden 4096, 32 heads, feed-forward 11008, vocabulary 32000.
    "7b": dict(n_layers=32, n_embd=4096, n_heads=32, n_kv_heads=32, n_ff=11008, n_vocab=32000),
    # Small enough to write and run on a laptop CPU in seconds: for checking this script itself.
    "tiny": dict(n_layers=2, n_embd=256, n_heads=4, n_kv_heads=2, n_ff=512, n_vocab=1024),
}
Q4_K_BYTES, Q6_K_BYTES, QK_K = 144, 210, 256
FILE_TYPE_Q4_K_M = 15
_quiet_log = None


def _blocks(rows: int, cols: int, qtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random quantized rows with small, finite block scales."""
    per_block = Q4_K_BYTES if qtype == "Q4_K" else Q6_K_BYTES
    data = rng.integers(0, 256, size=(rows, cols // QK_K, per_block), dtype=np.uint8)
    scale = np.frombuffer(np.float16(1e-3).tobytes(), dtype=np.uint8)
    if qtype == "Q4_K":  # d and dmin lead the block
        data[..., 0:2] = scale
        data[..., 2:4] = scale
    else:  # Q6_K: d trails it
        data[..., 208:210] = scale
    return data.reshape(rows, -1)


def _more_bits(i: int, n: int) -> bool:
    # llama.cpp's Q4_K_M rule for attn_v and ffn_down: first and last eighth, and every third layer between.
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def write_synthetic(path: Path, shape: str) -> None:
    import gguf

    s = SHAPES[shape]
    e, ff, hd = s["n_embd"], s["n_ff"], s["n_embd"] // s["n_heads"]
    kv = s["n_kv_heads"] * hd
    rng = np.random.default_rng(0)
    cache: dict[tuple[int, int, str], np.ndarray] = {}

    def q(rows: int, cols: int, qtype: str) -> np.ndarray:
        # one random array per distinct shape: memory bandwidth does not care that blocks repeat
        key = (rows, cols, qtype)
        if key not in cache:
            cache[key] = _blocks(rows, cols, qtype, rng)
        return cache[key]

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"hearth-synthetic-{shape}")
    w.add_context_length(4096)
    w.add_embedding_length(e)
    w.add_block_count(s["n_layers"])
    w.add_feed_forward_length(ff)
    w.add_head_count(s["n_heads"])
    w.add_head_count_kv(s["n_kv_heads"])
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(FILE_TYPE_Q4_K_M)
    n_vocab = s["n_vocab"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"tok{i}" for i in range(n_vocab - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    q4, q6 = gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K
    ones = np.ones(e, dtype=np.float32)
    w.add_tensor("token_embd.weight", q(n_vocab, e, "Q4_K"), raw_dtype=q4)
    for i in range(s["n_layers"]):
        more = _more_bits(i, s["n_layers"])
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", q(e, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.attn_k.weight", q(kv, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.attn_v.weight", q(kv, e, "Q6_K" if more else "Q4_K"), raw_dtype=q6 if more else q4)
        w.add_tensor(f"blk.{i}.attn_output.weight", q(e, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", q(ff, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_up.weight", q(ff, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_down.weight", q(e, ff, "Q6_K" if more else "Q4_K"), raw_dtype=q6 if more else q4)
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", q(n_vocab, e, "Q6_K"), raw_dtype=q6)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _make_quiet_log():
    import llama_cpp as L

    @L.llama_log_callback
    def quiet(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level >= 3 and text:  # GGML_LOG_LEVEL_WARN and ERROR only (CONT lines are dropped too)
            sys.stderr.write(text.decode("utf-8", errors="replace"))
    return quiet


def measure_decode(path: Path, prompt: int, gen: int, n_gpu_layers: int, threads: int) -> dict:
    """Decode tok/s of a token-by-token loop through llama.cpp's C API (no sampling, no Python text work)."""
    import llama_cpp as L

    global _quiet_log
    _quiet_log = _make_quiet_log()  # kept referenced: llama.cpp calls it for the life of the process
    L.llama_log_set(_quiet_log, ctypes.c_void_p(0))
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = n_gpu_layers
    mp.use_extra_bufts = False  # the AMX CPU buffers crash this llama.cpp on some Xeons; CUDA does not use them
    t0 = time.perf_counter()
    model = L.llama_model_load_from_file(str(path).encode(), mp)
    if not model:
        raise SystemExit(f"llama.cpp could not load {path}")
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = 4096, 512, 512
    cp.n_threads = cp.n_threads_batch = threads
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_AUTO  # off if the build has no FA kernels
    ctx = L.llama_init_from_model(model, cp)
    load_s = time.perf_counter() - t0
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    toks = (L.llama_token * prompt)(*[259 + (i * 7919) % (n_vocab - 259) for i in range(prompt)])
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
    return {"load_s": round(load_s, 2), "prefill_tok_s": round(prompt / prefill_s, 1),
            "decode_tok_s": round(gen / decode_s, 1), "gpu_offload": bool(L.llama_supports_gpu_offload()),
            "context_tokens": prompt + 4 + gen // 2}


def _smi_gpu():
    """The first GPU as nvidia-smi describes it, or None."""
    import shutil
    import subprocess

    from assistant.devices import GpuInfo

    if shutil.which("nvidia-smi") is None:
        return None
    query = "name,memory.total,memory.free,compute_cap,driver_version"
    proc = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    name, total, free, cap, driver = (x.strip() for x in proc.stdout.splitlines()[0].split(","))
    return GpuInfo(name=name, memory_total=int(total) * 2**20, memory_free=int(free) * 2**20,
                   compute_capability=cap, driver=driver)


def main() -> int:
    from assistant.devices import detect
    from assistant.gguf_meta import read_gguf
    from assistant.planner import decode_bound_tok_s, shape_from_gguf

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("/tmp/hearth-synthetic-7b-q4_k_m.gguf"))
    ap.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--gpu-layers", type=int, default=999)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    a = ap.parse_args()
    if not a.model.is_file():
        t0 = time.perf_counter()
        write_synthetic(a.model, a.shape)
        print(f"wrote {a.model} ({a.model.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    shape = shape_from_gguf(read_gguf(a.model))
    home = Path("/tmp/hearth-gpu-check-home")
    profile = detect(home, host_bandwidth_gbs=None if a.shape == "7b" else 10.0)
    if profile.kind == "cpu" and (gpu := _smi_gpu()) is not None:
        profile = detect(home, gpus=[gpu])  # NVML unusable in this sandbox: nvidia-smi still names the GPU
    m = measure_decode(a.model, a.prompt, a.gen, a.gpu_layers, a.threads)
    on_gpu = m["gpu_offload"] and profile.has_gpu
    bound = decode_bound_tok_s(shape, "f16", m["context_tokens"], profile.bandwidth_gbs, profile.host_bandwidth_gbs,
                               None if on_gpu else 0)
    report = {"device": profile.id, "device_name": profile.name, "bandwidth_gbs": profile.bandwidth_gbs,
              "details": profile.details, "model_bytes": shape.weights_bytes, "shape": a.shape, **m,
              "decode_bound_tok_s": round(bound, 1), "share_of_bound": round(m["decode_tok_s"] / bound, 3),
              "host": platform.node(), "time": time.time()}
    print(f"device      {profile.name} ({profile.bandwidth_gbs:g} GB/s), offload {m['gpu_offload']}")
    print(f"model       {a.shape}-shaped Q4_K_M, {shape.weights_bytes / 1e9:.2f} GB of weights")
    print(f"prefill     {m['prefill_tok_s']} tok/s ({a.prompt} tokens)")
    print(f"decode      {m['decode_tok_s']} tok/s ({a.gen} tokens)")
    print(f"bound       {bound:.1f} tok/s (bandwidth / bytes read per token)")
    print(f"share       {m['decode_tok_s'] / bound:.1%} of the bound")
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out / f"gpu_check-{profile.id}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0 if m["gpu_offload"] or a.shape == "tiny" else 1


if __name__ == "__main__":
    sys.exit(main())
