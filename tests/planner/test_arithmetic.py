"""Planner arithmetic against hand-computed numbers for well-known 7-8B shapes."""

from __future__ import annotations

import pytest

from assistant.catalog import load_catalog
from assistant.devices import load_profiles
from assistant.errors import InvalidRequestError
from assistant.planner import PlanRequest, decode_bound_tok_s, kv_bytes, kv_cells, plan, shape_from_catalog
from assistant.planner.memory import compute_bytes, read_bytes_per_token
from assistant.planner.shape import ModelShape

GIB = 1024**3


def shape(name: str, n_layers: int, n_heads: int, n_kv_heads: int, n_embd: int, n_ff: int, n_vocab: int,
          layer_bytes: int = 100_000_000, embd_bytes: int = 50_000_000, n_ctx_train: int = 4096) -> ModelShape:
    return ModelShape(name=name, architecture="llama", quantization="Q4_K_M", n_layers=n_layers, n_heads=n_heads,
                      n_kv_heads=n_kv_heads, head_dim_k=n_embd // n_heads, head_dim_v=n_embd // n_heads,
                      n_embd=n_embd, n_ff=n_ff, n_vocab=n_vocab, n_ctx_train=n_ctx_train,
                      layer_bytes=(layer_bytes,) * n_layers, embd_bytes=embd_bytes, output_bytes=embd_bytes,
                      other_bytes=0, file_bytes=n_layers * layer_bytes + 2 * embd_bytes, tied_embeddings=False,
                      source="gguf")


LLAMA2_7B = shape("llama-2-7b", 32, 32, 32, 4096, 11008, 32000)
LLAMA31_8B = shape("llama-3.1-8b", 32, 32, 8, 4096, 14336, 128256, n_ctx_train=131072)
QWEN25_7B = shape("qwen2.5-7b", 28, 28, 4, 3584, 18944, 152064, n_ctx_train=32768)


def test_kv_llama2_7b_full_mha():
    # 32 layers x 4096 tokens x (K 4096 + V 4096 values) x 2 bytes = 2 GiB
    assert kv_bytes(LLAMA2_7B, 4096, "f16") == 2 * GIB
    # q8_0: 34 bytes per 32 values; q4_0: 18 bytes per 32 values
    assert kv_bytes(LLAMA2_7B, 4096, "q8_0") == 32 * 4096 * 8192 * 34 // 32 == 1_140_850_688
    assert kv_bytes(LLAMA2_7B, 4096, "q4_0") == 32 * 4096 * 8192 * 18 // 32 == 603_979_776


def test_kv_llama31_8b_gqa():
    # 8 KV heads x 128 = 1024 values each for K and V: 32 x 8192 x 2048 x 2 bytes = 1 GiB (a quarter of MHA)
    assert kv_bytes(LLAMA31_8B, 8192, "f16") == 1 * GIB
    assert kv_bytes(LLAMA31_8B, 131072, "f16") == 16 * GIB
    # two parallel sequences of 8192 each hold twice the cells
    assert kv_bytes(LLAMA31_8B, 8192, "f16", n_seq=2) == 2 * GIB


def test_kv_qwen25_7b():
    # 28 layers, 4 KV heads x 128 = 512 values: 28 x 32768 x 1024 x 2 bytes = 1.75 GiB
    assert kv_bytes(QWEN25_7B, 32768, "f16") == 1_879_048_192
    assert kv_bytes(QWEN25_7B, 32768, "q8_0") == 28 * 32768 * 1024 * 34 // 32


def test_cells_are_padded_to_256():
    assert kv_cells(1000) == 1024
    assert kv_cells(4096) == 4096
    assert kv_bytes(LLAMA31_8B, 1000, "f16") == kv_bytes(LLAMA31_8B, 1024, "f16")


def test_compute_buffer_matches_llama_cpp_reports():
    # Numbers llama.cpp printed for SmolLM2-135M (vocab 49152, n_embd 576, 9 heads, n_ff 1536), n_ubatch 512.
    smol = shape("smol", 30, 9, 3, 576, 1536, 49152)
    assert compute_bytes(smol, 512, 512, flash_attn=True) / 2**20 == pytest.approx(98.25, rel=0.01)
    assert compute_bytes(smol, 8192, 512, flash_attn=False) / 2**20 == pytest.approx(166.38, rel=0.01)
    assert compute_bytes(smol, 8192, 128, flash_attn=False) / 2**20 == pytest.approx(41.6, rel=0.01)
    # Llama-3 logits for 512 rows: 128256 x 512 x 4 bytes = 250.5 MiB dominate with flash attention
    assert compute_bytes(LLAMA31_8B, 8192, 512, flash_attn=True) >= 128256 * 512 * 4


def test_decode_bound_hand_computed():
    # bytes per token at an empty context: 32 blocks x 100 MB + the 50 MB output matrix = 3.25 GB
    assert read_bytes_per_token(LLAMA2_7B, "f16", 0) == (3.25e9, 0.0)
    assert decode_bound_tok_s(LLAMA2_7B, "f16", 0, device_gbs=100) == pytest.approx(100 / 3.25)
    # at 4096 tokens the whole 2 GiB KV cache is read too
    assert decode_bound_tok_s(LLAMA2_7B, "f16", 4096, device_gbs=100) == pytest.approx(100e9 / (3.25e9 + 2 * GIB))
    # half the blocks offloaded: 1.6 GB on the 100 GB/s device; the other 16 blocks and the output matrix
    # (llama.cpp offloads it only with every block) are 1.65 GB read on the 10 GB/s host
    expected = 1 / (1.6e9 / 100e9 + 1.65e9 / 10e9)
    assert decode_bound_tok_s(LLAMA2_7B, "f16", 0, 100, host_gbs=10, gpu_layers=16) == pytest.approx(expected)


def test_plan_unified_memory_and_max_ctx():
    nano = load_profiles()["orin-nano-8gb"]
    req = PlanRequest(n_ctx=8192)
    p = plan(LLAMA31_8B, nano, req)
    expected = (LLAMA31_8B.file_bytes + GIB + compute_bytes(LLAMA31_8B, 8192, 512, True) + nano.overhead_bytes)
    assert p.device_bytes == expected
    assert p.budget_bytes == nano.memory_bytes - nano.reserve_os_bytes
    assert p.fits == (expected <= p.budget_bytes)
    # the largest context is a multiple of 256 that fits, and 256 more does not
    assert p.max_ctx % 256 == 0 and 0 < p.max_ctx
    assert plan(LLAMA31_8B, nano, PlanRequest(n_ctx=p.max_ctx)).fits
    assert not plan(LLAMA31_8B, nano, PlanRequest(n_ctx=p.max_ctx + 256)).fits


def test_plan_discrete_gpu_offloads_what_fits():
    l4 = load_profiles()["l4"]
    big = shape("big", 40, 40, 8, 5120, 13824, 32000, layer_bytes=1_000_000_000)  # 40 GB of blocks
    p = plan(big, l4, PlanRequest(n_ctx=4096))
    assert 0 < p.gpu_layers < big.n_layers
    assert p.device_bytes <= l4.budget_bytes
    assert any("blocks fit in VRAM" in n or "run on the CPU" in n for n in p.notes)


def test_quantized_kv_needs_flash_attention():
    with pytest.raises(InvalidRequestError):
        PlanRequest(n_ctx=4096, kv_type="q8_0", flash_attn=False)
    with pytest.raises(InvalidRequestError):
        PlanRequest(n_ctx=4096, kv_type="q5_1")


def test_catalog_estimates_match_known_shapes():
    cat = load_catalog()
    llama = shape_from_catalog(cat.get("llama-3.1-8b-instruct"))
    assert llama.n_ff == pytest.approx(14336, rel=0.02)
    assert not llama.tied_embeddings
    assert llama.weights_bytes <= cat.get("llama-3.1-8b-instruct").size_bytes
    qwen = shape_from_catalog(cat.get("qwen2.5-7b-instruct"))
    assert qwen.n_ff == pytest.approx(18944, rel=0.02)
    assert kv_bytes(qwen, 32768, "f16") == kv_bytes(QWEN25_7B, 32768, "f16")
    smol = shape_from_catalog(cat.get("smollm2-135m-instruct"))
    assert smol.tied_embeddings and smol.n_ff == pytest.approx(1536, rel=0.02)
