"""`hearth bench`'s measurement on the real engine (the session's shared one: no extra load)."""

from __future__ import annotations

import pytest

from assistant.cli.bench import bench
from assistant.gguf_meta import read_gguf
from assistant.planner import decode_bound_tok_s, shape_from_gguf
from assistant.settings import load_settings
from tests.threads import THREADS


def test_bench_reports_speeds_memory_and_share_of_bound(engine, default_model_path, model_home):
    settings = load_settings(home=model_home, model=str(default_model_path),
                             engine={"n_ctx": 2048, "n_threads": THREADS},
                             device={"profile": "host-cpu", "host_bandwidth_gbs": 10.0})  # the engine runs on the CPU
    r = bench(settings, prompt_tokens=24, gen_tokens=4, runs=1, engine=engine)
    assert 12 <= r["prompt_tokens"] <= 24 and 1 <= r["completion_tokens"] <= 4
    assert r["prefill_tok_s"] > 0 and r["ttft_s"] > 0
    assert r["peak_rss_bytes"] > read_gguf(default_model_path).tensor_bytes
    shape = shape_from_gguf(read_gguf(default_model_path))
    context = r["prompt_tokens"] + r["completion_tokens"] // 2
    assert r["decode_bound_tok_s"] == pytest.approx(decode_bound_tok_s(shape, "f16", context, 10.0), abs=0.1)
    if r["completion_tokens"] > 1:
        assert r["decode_tok_s"] > 0
        assert r["decode_share_of_bound"] == pytest.approx(r["decode_tok_s"] / r["decode_bound_tok_s"], abs=1e-3)
    assert r["device"]["id"] == "host-cpu" and r["device"]["bandwidth_gbs"] == 10.0
    assert r["kv_type"] == "f16" and r["n_ctx"] == 2048
