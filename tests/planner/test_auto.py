"""`auto` engine settings resolved by the planner for the real default model on several devices."""

from __future__ import annotations

import pytest

from assistant.devices import load_profiles
from assistant.errors import ConfigError
from assistant.gguf_meta import read_gguf
from assistant.planner import resolve_auto
from assistant.settings import EngineSettings


@pytest.fixture(scope="module")
def meta(default_model_path):
    return read_gguf(default_model_path)


def auto(**kw) -> EngineSettings:
    base = {"n_ctx": "auto", "n_gpu_layers": "auto", "kv_type": "auto", "flash_attn": "auto"}
    return EngineSettings(**{**base, **kw})


def test_cpu_profile_gets_trained_context_f16_no_offload(meta):
    host = load_profiles()["l4"]
    cpu = host.__class__(id="cpu", name="test CPU", kind="cpu", memory_bytes=16 * 10**9, unified_memory=True,
                         bandwidth_gbs=20.0, reserve_os_bytes=10**9)
    r = resolve_auto(auto(), meta, cpu, offload_supported=False)
    assert (r.n_ctx, r.n_gpu_layers, r.kv_type, r.flash_attn) == (8192, 0, "f16", True)
    assert any(n.startswith("n_ctx=8192") for n in r.notes)
    assert any("no GPU" in n for n in r.notes)


def test_gpu_with_cpu_only_build_offloads_nothing_and_says_so(meta):
    r = resolve_auto(auto(), meta, load_profiles()["l4"], offload_supported=False)
    assert r.n_gpu_layers == 0
    assert any("CPU-only" in n for n in r.notes)


def test_cuda_build_offloads_everything(meta):
    r = resolve_auto(auto(), meta, load_profiles()["orin-nano-8gb"], offload_supported=True)
    assert r.n_gpu_layers == -1 and r.kv_type == "f16"


def test_tight_memory_chooses_quantized_kv_then_shorter_context(meta):
    base = load_profiles()["orin-nano-8gb"]
    # Budget for weights + compute + overhead + a q8_0 cache of 8192 tokens, but not an f16 one (180 MiB).
    tight = base.__class__(**{**base.__dict__, "memory_bytes": 1_500_000_000 + 840_000_000,
                              "reserve_os_bytes": 1_500_000_000})
    r = resolve_auto(auto(), meta, tight, offload_supported=True)
    assert r.kv_type in ("q8_0", "q4_0") and r.flash_attn
    explicit = resolve_auto(auto(kv_type="f16"), meta, tight, offload_supported=True)
    assert explicit.kv_type == "f16" and explicit.n_ctx < 8192 and explicit.n_ctx % 256 == 0


def test_explicit_values_are_kept(meta):
    r = resolve_auto(auto(n_ctx=1024, kv_type="q4_0", flash_attn=True, n_gpu_layers=0), meta,
                     load_profiles()["l4"], offload_supported=True)
    assert (r.n_ctx, r.kv_type, r.flash_attn, r.n_gpu_layers) == (1024, "q4_0", True, 0)


def test_quantized_kv_without_flash_attention_is_refused(meta):
    with pytest.raises(ConfigError, match="flash attention"):
        resolve_auto(auto(kv_type="q8_0", flash_attn=False), meta, load_profiles()["l4"], offload_supported=True)


def test_nothing_fits(meta):
    base = load_profiles()["orin-nano-8gb"]
    tiny = base.__class__(**{**base.__dict__, "memory_bytes": 1_600_000_000, "reserve_os_bytes": 1_500_000_000})
    with pytest.raises(ConfigError, match="does not fit"):
        resolve_auto(auto(), meta, tiny, offload_supported=True)
