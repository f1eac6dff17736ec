"""Helpers of scripts/gpu_check.py: the GPU as nvidia-smi names it, and the report as a docs/ section."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata


def smi_gpu():
    """The first GPU as nvidia-smi describes it (an `assistant.devices.GpuInfo`), or None."""
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


def _bindings_version() -> str:
    # On the GPU machine the bindings are the sdist's package folder, with no installed metadata.
    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        import llama_cpp

        return f"{llama_cpp.__version__} (sdist)"


def _ratio(x: float | None, of: float | None) -> str:
    return "-" if not x or not of else f"{x / of:.2f}"


def markdown(r: dict) -> str:
    """One dated section for docs/gpu-check.md."""
    d = r["details"]
    where = f"{r['device_name']} ({r['device']}" + (f", sm_{d['compute_capability'].replace('.', '')}, driver "
                                                    f"{d['driver']}" if "driver" in d else "") + ")"
    m = r["model"]
    model = (f"{m['shape']}-shaped Q4_K_M of random weights" if m["synthetic"] else m["file"]) + \
        f", {m['weights_bytes'] / 1e9:.2f} GB of weights"
    bench, bare, hearth, bound = r["llama_bench"], r["bare_loop"], r["hearth"], r["decode_bound_tok_s"]
    tg = bench["tg"]["tok_s"] if bench else None
    pp = bench["pp"]["tok_s"] if bench else None
    rows = []
    if bench:
        depth = f"tg{r['gen_tokens']} at depth {bench['tg']['depth']}"
        rows.append((f"llama-bench (pp{r['prompt_tokens']}, {depth})", pp, tg))
    rows.append(("bare decode loop (llama-cpp-python C API, no sampling)", bare["prefill_tok_s"],
                 bare["decode_tok_s"]))
    rows.append(("Hearth engine (sampling, top-5 log-probabilities, event stream)", hearth["prefill_tok_s"],
                 hearth["decode_tok_s"]))
    lines = [
        f"### {r['date']}: {where}",
        "",
        f"Model: {model}; prompt {r['prompt_tokens']} tokens, {r['gen_tokens']} generated, "
        f"{'all layers on the GPU' if r['on_gpu'] else 'CPU only'}, flash attention; llama-cpp-python "
        f"{_bindings_version()}" + (f", llama-bench build {bench['build']}" if bench else "") +
        f". Hearth: median of {len(hearth['decode_runs'])} runs {hearth['decode_runs']} tok/s.",
        "",
        "| | prefill tok/s | decode tok/s | decode / llama-bench | decode / bound |",
        "|---|---|---|---|---|",
    ]
    for name, p, t in rows:
        lines.append(f"| {name} | {p:g} | {t:g} | {_ratio(t, tg)} | {_ratio(t, bound)} |")
    lines += ["", (f"Bound: {bound:g} tok/s, {r['bandwidth_gbs']:g} GB/s over the bytes read per token (all "
                   "weights plus the KV cache at this depth). Hearth / llama-bench: prefill "
                   f"{_ratio(hearth['prefill_tok_s'], pp)}, decode {_ratio(hearth['decode_tok_s'], tg)}."), ""]
    return "\n".join(lines)
