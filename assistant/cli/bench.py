"""`hearth bench`: prefill and decode speed, time to first token and peak memory of the configured model on this
device, with decode speed as a share of the planner's bandwidth bound; written to JSON so devices can be compared.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..devices import detect_profile
from ..engine.events import Finish
from ..engine.protocol import Engine
from ..engine.sampling import SamplingParams
from ..gguf_meta import read_gguf
from ..planner import decode_bound_tok_s, shape_from_gguf
from ..runtime import load_config, load_engine
from ..settings import Settings
from .common import cli_errors, err, out, print_json
from .options import settings_command

_TEXT = ("Hearth runs a small language model on the device in front of you and asks a larger one in the cloud "
         "only when it has to. This paragraph is filler for a benchmark prompt of a chosen length. ")


def _prompt(engine: Engine, n_tokens: int) -> str:
    text = _TEXT * (n_tokens // 20 + 2)
    while len(engine.tokenize(text)) > n_tokens:
        text = text[: max(1, int(len(text) * 0.97))]
    return text


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_once(engine: Engine, prompt: str, gen_tokens: int) -> Finish:
    """One generation; the KV cache is reset first so every run pays its full prefill."""
    reset = getattr(engine, "reset", None)
    if callable(reset):
        reset()
    params = SamplingParams(temperature=0.0, max_tokens=gen_tokens, repeat_penalty=1.0, seed=0)
    finish = None
    for event in engine.generate(prompt, params):
        if isinstance(event, Finish):
            finish = event
    assert finish is not None, "an engine stream always ends with Finish"
    return finish


def bench(settings: Settings, prompt_tokens: int, gen_tokens: int, runs: int,
          engine: Engine | None = None) -> dict[str, Any]:
    """Load the configured model (unless `engine` is given), run it `runs` times, and compare decode speed with
    the planner's bound."""
    profile = detect_profile(settings)
    t0 = time.perf_counter()
    owned = engine is None
    engine = load_engine(settings) if engine is None else engine
    load_s = time.perf_counter() - t0 if owned else None
    try:
        meta = read_gguf(engine.info.path)
        config = load_config(settings, meta)
        prompt = _prompt(engine, prompt_tokens)
        run_once(engine, prompt, 4)  # warm-up: page in the weights, let the CPU clocks settle
        finishes = [run_once(engine, prompt, gen_tokens) for _ in range(runs)]
    finally:
        if owned:
            engine.close()
    f = finishes[-1]
    prefill = [x.usage.prompt_tokens / x.timings.prefill_s for x in finishes if x.timings.prefill_s > 0]
    decode = [x.timings.decode_tok_s(x.usage.completion_tokens) for x in finishes]
    shape = shape_from_gguf(meta)
    mid_context = f.usage.prompt_tokens + f.usage.completion_tokens // 2
    gpu_layers = 0 if profile.kind == "cpu" or not engine.capabilities.gpu_offload else (
        None if config.n_gpu_layers < 0 else config.n_gpu_layers)
    bandwidth = profile.bandwidth_gbs if gpu_layers != 0 else (profile.host_bandwidth_gbs or profile.bandwidth_gbs)
    bound = decode_bound_tok_s(shape, config.kv_type, mid_context, bandwidth, profile.host_bandwidth_gbs, gpu_layers)
    decode_median = statistics.median(decode)
    return {
        "model": engine.info.id, "quantization": engine.info.quantization, "size_bytes": engine.info.size_bytes,
        "n_ctx": engine.info.n_ctx, "kv_type": config.kv_type, "flash_attn": config.flash_attn,
        "n_gpu_layers": config.n_gpu_layers, "n_threads": config.n_threads,
        "load_s": round(load_s, 3) if load_s is not None else None,
        "prompt_tokens": f.usage.prompt_tokens, "completion_tokens": f.usage.completion_tokens, "runs": runs,
        "prefill_tok_s": round(statistics.median(prefill), 1) if prefill else None,
        "decode_tok_s": round(decode_median, 1),
        "ttft_s": round(statistics.median(x.timings.ttft_s for x in finishes), 4),
        "peak_rss_bytes": _peak_rss_bytes(),
        "decode_bound_tok_s": round(bound, 1),
        "decode_share_of_bound": round(decode_median / bound, 3) if bound else None,
        "device": {"id": profile.id, "name": profile.name, "kind": profile.kind,
                   "bandwidth_gbs": profile.bandwidth_gbs, "memory_bytes": profile.memory_bytes,
                   "cuda_arch": profile.cuda_arch, "details": profile.details},
        "host": platform.node(), "time": time.time(),
    }


def _print(r: dict[str, Any]) -> None:
    lines = [
        ("model", f"{r['model']} ({r['quantization']}), n_ctx {r['n_ctx']}, KV {r['kv_type']}, "
                  f"{r['n_threads']} threads, GPU layers {r['n_gpu_layers']}"),
        ("device", f"{r['device']['name']} ({r['device']['bandwidth_gbs']:g} GB/s)"),
        ("prefill", f"{r['prefill_tok_s']} tok/s ({r['prompt_tokens']} prompt tokens)"),
        ("decode", f"{r['decode_tok_s']} tok/s ({r['completion_tokens']} tokens, median of {r['runs']})"),
        ("time to first token", f"{r['ttft_s'] * 1000:.0f} ms"),
        ("peak memory", f"{r['peak_rss_bytes'] / 1e6:.0f} MB resident"),
        ("decode bound", f"{r['decode_bound_tok_s']} tok/s; measured is {r['decode_share_of_bound']:.0%} of it"),
    ]
    for key, value in lines:
        out.print(f"{key:<20} {value}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("bench")
    @cli_errors
    @settings_command("engine", "model", "home", "device")
    def bench_cmd(
        prompt_tokens: Annotated[int, typer.Option("--prompt-tokens", min=1, help="Prompt length.")] = 256,
        gen_tokens: Annotated[int, typer.Option("--gen-tokens", min=2, help="Tokens to generate per run.")] = 64,
        runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs (the median is reported).")] = 3,
        out_file: Annotated[Path | None, typer.Option("--out", help="JSON file to write (default: "
                                                         "bench-results/bench-DEVICE-MODEL.json).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the JSON instead of a summary.")] = False,
        *, settings: Settings) -> None:
        """Benchmark the configured model: prefill/decode tok/s, TTFT, peak memory, share of the decode bound."""
        result = bench(settings, prompt_tokens, gen_tokens, runs)
        path = out_file or Path("bench-results") / f"bench-{result['device']['id']}-{result['model']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        if as_json:
            print_json(result)
        else:
            _print(result)
        err.print(f"wrote {path}", markup=False, highlight=False)
