"""Measure what a model really takes: load it with Hearth's engine in a fresh process, run one short prompt,
report the peak resident set and llama.cpp's own KV-cache and compute-buffer sizes.

Run as `python -m assistant.planner.measure --model PATH --n-ctx N --kv-type T` (prints one JSON object); the
parent side, `measure_in_subprocess`, compares nothing: it only runs and parses, so scripts and tests share it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
PROMPT_WORDS = "The quick brown fox jumps over the lazy dog while the kettle hums in the kitchen. "


def _vm_hwm_bytes() -> int:
    """Peak resident set of this process (VmHWM), in bytes."""
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmHWM not found in /proc/self/status")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def parse_llama_log(text: str) -> dict[str, float | None]:
    """MiB numbers llama.cpp logs when it creates a context."""
    def grab(pattern: str) -> float | None:
        found = re.findall(pattern, text)
        return sum(float(x) for x in found) if found else None

    return {"kv_mib": grab(r"llama_kv_cache: size =\s*([\d.]+) MiB"),
            "compute_mib": grab(r"compute buffer size =\s*([\d.]+) MiB"),
            "model_mib": grab(r"model buffer size =\s*([\d.]+) MiB")}


def child(model: Path, n_ctx: int, kv_type: str, flash_attn: bool, prompt_tokens: int, threads: int,
          gen_tokens: int = 8) -> dict[str, Any]:
    """Load, prompt, generate a few tokens; return measured numbers (runs in the measured process)."""
    from ..engine.llamacpp import LlamaCppEngine, LoadConfig
    from ..engine.sampling import SamplingParams

    capture = _Capture()
    engine_log = logging.getLogger("hearth.llamacpp")
    engine_log.addHandler(capture)
    engine_log.setLevel(logging.DEBUG)
    engine_log.propagate = False
    baseline = _vm_hwm_bytes()
    engine = LlamaCppEngine(model, LoadConfig(n_ctx=n_ctx, n_threads=threads, kv_type=kv_type,
                                              flash_attn=flash_attn))
    loaded = _vm_hwm_bytes()
    text = PROMPT_WORDS * (prompt_tokens // 8 + 1)
    while len(engine.tokenize(text)) > prompt_tokens:
        text = text[: int(len(text) * 0.95)]
    n_prompt = len(engine.tokenize(text))
    params = SamplingParams(max_tokens=gen_tokens, temperature=0.0, seed=0)
    events = list(engine.generate(text, params))
    peak = _vm_hwm_bytes()
    engine.close()
    return {"n_ctx": n_ctx, "kv_type": kv_type, "flash_attn": flash_attn, "prompt_tokens": n_prompt,
            "generated": sum(1 for e in events if type(e).__name__ == "TokenEvent"),
            "baseline_bytes": baseline, "loaded_bytes": loaded, "peak_bytes": peak,
            **parse_llama_log("\n".join(capture.lines))}


def measure_in_subprocess(model: Path, n_ctx: int, kv_type: str = "f16", flash_attn: bool = True,
                          prompt_tokens: int = 128, threads: int = 2, gen_tokens: int = 8,
                          timeout_s: float = 120.0) -> dict[str, Any]:
    """Run `child` in a fresh interpreter (so nothing else is resident) and return its JSON."""
    cmd = [sys.executable, "-m", "assistant.planner.measure", "--model", str(model), "--n-ctx", str(n_ctx),
           "--kv-type", kv_type, "--prompt-tokens", str(prompt_tokens), "--threads", str(threads),
           "--gen-tokens", str(gen_tokens)]
    if not flash_attn:
        cmd.append("--no-flash-attn")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement of n_ctx={n_ctx} {kv_type} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--n-ctx", type=int, required=True)
    ap.add_argument("--kv-type", default="f16")
    ap.add_argument("--no-flash-attn", action="store_true")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen-tokens", type=int, default=8)
    a = ap.parse_args(argv)
    result = child(a.model, a.n_ctx, a.kv_type, not a.no_flash_attn, a.prompt_tokens, a.threads, a.gen_tokens)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
