"""Predicted vs measured memory of the real default model, each load in its own process (3 loads)."""

from __future__ import annotations

import pytest

from assistant.gguf_meta import read_gguf
from assistant.planner import PlanRequest, kv_bytes, reserved_compute_bytes, resident_bytes, shape_from_gguf
from assistant.planner.measure import measure_in_subprocess

MIB = 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("n_ctx", [512, 2048, 8192])
def test_resident_memory_within_15_percent(default_model_path, n_ctx, machine):
    if machine.llama_gpu_offload:
        pytest.skip("the prediction is of a CPU-only build's resident memory; a GPU build also maps its runtime "
                    "and keeps compute buffers on the GPU (scripts/gpu_check.sh measures GPUs)")
    shape = shape_from_gguf(read_gguf(default_model_path))
    m = measure_in_subprocess(default_model_path, n_ctx, "f16", flash_attn=True, prompt_tokens=32, gen_tokens=2)
    predicted = resident_bytes(shape, PlanRequest(n_ctx=n_ctx, kv_type="f16", flash_attn=True, prompt_tokens=32))
    assert m["peak_bytes"] == pytest.approx(predicted, rel=0.15), (m, predicted)
    # llama.cpp's own report of the KV cache agrees with the formula to the byte (printed with 2 decimals)
    assert m["kv_mib"] == pytest.approx(kv_bytes(shape, n_ctx, "f16") / MIB, abs=0.01)
    assert m["compute_mib"] == pytest.approx(reserved_compute_bytes(shape, n_ctx, 512, True) / MIB, rel=0.10)
