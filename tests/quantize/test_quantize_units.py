"""Small pieces with exact answers: presets, rope factors, calibration split, the
pre-tokenizer table."""

from __future__ import annotations

import llama_cpp
import numpy as np
import pytest

from assistant.errors import InvalidRequestError, UnsupportedModelError
from quantize.archs import HParams, llama3_rope_factors, resolve_arch
from quantize.calibration import load_texts
from quantize.quantizer import PRESETS, get_preset
from quantize.vocab import detect_pre_tokenizer


def test_presets_match_llama_cpp_ftypes() -> None:
    for name, preset in PRESETS.items():
        assert preset.ftype == getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}")
    assert get_preset("q4_k_m").name == "Q4_K_M"
    with pytest.raises(InvalidRequestError, match="IQ4_XS"):
        get_preset("Q2_K")


def test_llama3_rope_factors_follow_the_published_rule() -> None:
    hp = HParams(
        n_layer=1,
        n_embd=4096,
        n_ff=1,
        n_head=32,
        n_head_kv=8,
        head_dim=128,
        n_vocab=1,
        n_ctx_train=131072,
        rms_eps=1e-5,
        rope_theta=500000.0,
        tied_embeddings=False,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
    )
    f = llama3_rope_factors(hp)
    assert f.shape == (64,) and f[0] == 1.0 and f[-1] == 8.0  # short wavelengths kept, long ones stretched
    assert np.all(np.diff(f) >= 0)  # the band between is interpolated monotonically


def test_calibration_and_evaluation_text_are_disjoint() -> None:
    texts = load_texts(None, 10**7, 10**7)
    assert len(texts.calibration) > 200_000 and len(texts.evaluation) > 120_000
    calib_paragraphs = {p.strip() for p in texts.calibration.split("\n\n")}
    shared = [p for p in texts.evaluation.split("\n\n") if len(p) > 200 and p.strip() in calib_paragraphs]
    assert shared == []
    assert load_texts(None, 1000, 500).calibration == texts.calibration[:1000]  # deterministic prefix


def test_unknown_architecture_and_pre_tokenizer_are_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="Qwen2ForCausalLM"):
        resolve_arch({"architectures": ["PhiForCausalLM"]})
    assert resolve_arch({"architectures": None, "model_type": "llama"}).hf_name == "LlamaForCausalLM"
    weird = {
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}},
        "decoder": {"type": "ByteLevel"},
    }
    with pytest.raises(UnsupportedModelError, match="llama-bpe"):
        detect_pre_tokenizer(weird)
    smollm = {
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "use_regex": True},
            ],
        }
    }
    assert detect_pre_tokenizer(smollm) == "smollm"
