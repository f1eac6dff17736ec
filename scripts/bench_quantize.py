"""Benchmark `hearth quantize`.

Part `7b`: a model with Llama-2-7B's shapes and random F16 weights, generated on disk (sharded safetensors),
goes
through convert -> importance matrix -> quantize for each INT4 preset. Each step runs in its own process so
its
peak RSS (and peak anonymous memory: RSS minus file pages the kernel can drop) is measured alone. Random
weights say
nothing about quality; this part measures size, bits per weight, time and memory.

Part `kld`: the real default model (exported from its GGUF by transformers) is quantized with each preset,
with and
without an importance matrix, and compared with its F16 build on held-out text (perplexity, KL divergence,
same-top-token rate).

    python scripts/bench_quantize.py --part 7b --work /path/with/30GB/free
    python scripts/bench_quantize.py --part kld
Prints a table per part and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float16",
}
INT4 = ["Q4_K_M", "Q4_0", "Q4_K_S", "IQ4_XS"]
ALL_PRESETS = [*INT4, "Q5_K_M", "Q8_0"]


# ----------------------------------------------------------------------------------------------------
# measuring a step
def measure(name: str, code: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh Python; wall time, peak RSS (kernel high-water mark) and peak anonymous RSS."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})})
    peak_anon = [0]

    def sample() -> None:
        path = f"/proc/{proc.pid}/status"
        while proc.poll() is None:
            try:
                with open(path) as fh:
                    for line in fh:
                        if line.startswith("RssAnon:"):
                            peak_anon[0] = max(peak_anon[0], int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.2)

    start = time.perf_counter()
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed with exit code {proc.returncode}")
    return {
        "step": name,
        "wall_s": round(wall, 1),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "peak_anon_bytes": peak_anon[0],
    }


# ----------------------------------------------------------------------------------------------------
# a 7B-shaped checkpoint on disk
def _config(layers: int) -> dict:
    return {**LLAMA2_7B, "num_hidden_layers": layers}


def _tensors_7b(c: dict) -> list[tuple[str, tuple[int, ...]]]:
    h, ff, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    out = [("model.embed_tokens.weight", (v, h))]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (h,)), (p + "post_attention_layernorm.weight", (h,))]
        out += [(p + f"self_attn.{n}_proj.weight", (h, h)) for n in "qkvo"]
        out += [
            (p + "mlp.gate_proj.weight", (ff, h)),
            (p + "mlp.up_proj.weight", (ff, h)),
            (p + "mlp.down_proj.weight", (h, ff)),
        ]
    return out + [("model.norm.weight", (h,)), ("lm_head.weight", (v, h))]


def _write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]], pool: np.ndarray, rng) -> None:
    header, offset = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as fh:
        fh.write(len(blob).to_bytes(8, "little") + blob)
        for name, shape in tensors:
            count = int(np.prod(shape))
            if len(shape) == 1:
                fh.write(np.ones(count, dtype=np.float16).tobytes())
                continue
            # Slices of one random pool at random offsets: random-looking weights without generating 6.7e9
            # normals.
            while count > 0:
                take = min(count, len(pool) // 2)
                start = int(rng.integers(0, len(pool) - take))
                fh.write(pool[start : start + take].tobytes())
                count -= take


def generate_7b(model_dir: Path, layers: int = 32) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(_config(layers), indent=2))
    from pydoc_data.topics import topics

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        list(topics.values()),
        trainers.BpeTrainer(
            vocab_size=8000,
            special_tokens=["<unk>", "<s>", "</s>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True})
    )
    rng = np.random.default_rng(0)
    pool = (rng.standard_normal(1 << 26, dtype=np.float32) * 0.02).astype(np.float16)
    tensors = _tensors_7b(_config(layers))
    shards, current, size = [], [], 0
    for t in tensors:
        current.append(t)
        size += int(np.prod(t[1])) * 2
        if size > 5e9:
            shards.append(current)
            current, size = [], 0
    shards.append(current)
    weight_map = {}
    for i, part in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        _write_shard(model_dir / name, part, pool, rng)
        weight_map.update({n: name for n, _ in part})
    (model_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )


def quantize_step(f16: Path, out: Path, preset: str, npz: Path, threads: int) -> dict:
    """Quantize in a fresh process (with the saved importance matrix); size and bits per weight."""
    from quantize.manifest import tensor_histogram

    row = measure(
        f"quantize {preset}",
        "import numpy as np; from pathlib import Path; "
        "from quantize.quantizer import PRESETS, quantize_gguf; "
        f"z = np.load({str(npz)!r}); m = {{k.replace('__', '.'): z[k] for k in z.files}}; "
        f"quantize_gguf(Path({str(f16)!r}), Path({str(out)!r}), PRESETS[{preset!r}], {threads}, m)",
    )
    _, n_params, data_bytes = tensor_histogram(out)
    row.update(size_bytes=out.stat().st_size, bits_per_weight=round(8 * data_bytes / n_params, 3))
    out.unlink()
    return row


def bench_7b(
    work: Path, presets: list[str], imatrix_tokens: int, threads: int, layers: int, save=lambda rows: None
) -> list[dict]:
    """Steps in order; `save(rows)` is called after each, so a long run keeps what it measured."""
    import shutil

    free = shutil.disk_usage(work).free
    if free < 30e9 * layers / 32:
        raise SystemExit(f"{work}: {free / 1e9:.1f} GB free; the 7B bench needs ~30 GB")
    src, f16 = work / f"llama2-7b-shaped-{layers}l", work / f"llama2-7b-shaped-{layers}l.F16.gguf"
    rows = []
    if not (src / "model.safetensors.index.json").is_file():
        rows.append(
            measure(
                "generate",
                f"from scripts.bench_quantize import generate_7b; from pathlib import Path; "
                f"generate_7b(Path({str(src)!r}), {layers})",
            )
        )
    rows.append(
        measure(
            "convert",
            f"from quantize.convert import convert; from pathlib import Path; "
            f"convert(Path({str(src)!r}), Path({str(f16)!r}), 'f16')",
        )
    )
    rows[-1].update(size_bytes=f16.stat().st_size)
    save(rows)
    npz = work / "imatrix.npz"
    text = "from quantize.calibration import load_texts; t = load_texts(None, 240000, 0).calibration"
    rows.append(
        measure(
            f"imatrix ({imatrix_tokens} tokens)",
            f"{text}; from pathlib import Path; "
            f"from quantize.imatrix import compute_imatrix, save_imatrix; "
            f"s = compute_imatrix(Path({str(f16)!r}), t, {imatrix_tokens}, {threads}, max_chunks=1); "
            f"save_imatrix(s, Path({str(npz)!r}))",
        )
    )
    for preset in presets:
        rows.append(quantize_step(f16, work / f"llama2-7b-shaped.{preset}.gguf", preset, npz, threads))
        save(rows)
    return rows


# ----------------------------------------------------------------------------------------------------
# KL divergence on the real default model
def export_default_model(dst: Path) -> Path:
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.runtime import open_store
    from assistant.settings import DEFAULT_MODEL, load_settings

    stored = open_store(load_settings()).get(DEFAULT_MODEL)
    if stored is None:
        raise SystemExit(f"run `hearth pull {DEFAULT_MODEL}` first")
    if (dst / "model.safetensors").is_file():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(stored.path.parent), gguf_file=stored.path.name, dtype=torch.float32
    )
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    save_model(model, str(dst / "model.safetensors"))
    AutoTokenizer.from_pretrained(str(stored.path.parent), gguf_file=stored.path.name).save_pretrained(
        str(dst)
    )
    return dst


def bench_kld(
    work: Path, presets: list[str], calib_bytes: int, eval_bytes: int, ctx: int, threads: int
) -> list:
    from quantize.calibration import load_texts
    from quantize.convert import convert
    from quantize.evaluate import Reference, compare
    from quantize.imatrix import compute_imatrix
    from quantize.manifest import tensor_histogram
    from quantize.quantizer import PRESETS, quantize_gguf

    src = export_default_model(work / "SmolLM2-135M-Instruct-hf")
    f16 = work / "smollm2.F16.gguf"
    convert(src, f16, "f16")
    texts = load_texts(None, calib_bytes, eval_bytes)
    t0 = time.perf_counter()
    stats = compute_imatrix(f16, texts.calibration, ctx, threads)
    print(f"imatrix: {stats.tokens} tokens in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    with Reference(f16, texts.evaluation, ctx, threads, scratch_dir=work) as ref:
        for preset in presets:
            for use in (False, True):
                out = work / f"smollm2.{preset}.gguf"
                quantize_gguf(
                    f16, out, PRESETS[preset], threads, stats.means() if use else None, require_imatrix=False
                )
                _, n, data = tensor_histogram(out)
                r = compare(ref, out, threads).as_dict()
                rows.append(
                    {
                        "preset": preset,
                        "imatrix": use,
                        "size_bytes": out.stat().st_size,
                        "bits_per_weight": round(8 * data / n, 3),
                        **r,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                out.unlink()
    return rows


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    lines = [" | ".join(h for h, _ in cols), " | ".join("---" for _ in cols)]
    for r in rows:
        lines.append(" | ".join(fmt(r) for _, fmt in cols))
    return "\n".join(lines)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


COLUMNS_7B = [
    ("step", lambda r: r["step"]),
    ("size GB", lambda r: _gb(r["size_bytes"]) if "size_bytes" in r else "-"),
    ("bpw", lambda r: str(r.get("bits_per_weight", "-"))),
    ("wall s", lambda r: f"{r['wall_s']:.0f}"),
    ("peak RSS GB", lambda r: _gb(r["peak_rss_bytes"])),
    ("peak anon GB", lambda r: _gb(r["peak_anon_bytes"])),
]
COLUMNS_KLD = [
    ("preset", lambda r: r["preset"]),
    ("imatrix", lambda r: "yes" if r["imatrix"] else "no"),
    ("MB", lambda r: f"{r['size_bytes'] / 1e6:.1f}"),
    ("bpw", lambda r: str(r["bits_per_weight"])),
    ("PPL (F16)", lambda r: f"{r['ppl']:.3f} ({r['ppl_f16']:.3f})"),
    ("KLD", lambda r: f"{r['kld_mean']:.4f}"),
    ("same top", lambda r: f"{100 * r['same_top']:.1f}%"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["7b", "kld", "all"], default="all")
    ap.add_argument("--work", type=Path, default=Path("/tmp/hearth-bench-quantize"))
    ap.add_argument("--json", type=Path, default=Path("bench_quantize.json"))
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    ap.add_argument("--imatrix-tokens", type=int, default=128)
    ap.add_argument("--calib-bytes", type=int, default=120_000)
    ap.add_argument("--eval-bytes", type=int, default=40_000)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--layers", type=int, default=32, help="7B part: fewer blocks for a quick smoke run")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result: dict = {"threads": args.threads}
    if args.part in ("7b", "all"):

        def save(rows: list[dict]) -> None:
            args.json.write_text(json.dumps({**result, "7b": rows, "layers": args.layers}, indent=2))

        result["7b"] = bench_7b(args.work, INT4, args.imatrix_tokens, args.threads, args.layers, save)
        result["layers"] = args.layers
        print(_table(result["7b"], COLUMNS_7B))
    if args.part in ("kld", "all"):
        result["kld"] = bench_kld(
            args.work, ALL_PRESETS, args.calib_bytes, args.eval_bytes, args.ctx, args.threads
        )
        print(_table(result["kld"], COLUMNS_KLD))
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
