"""(a) Converter correctness on tiny random-weight models of every supported architecture: the GGUF's
tokenizer
gives the Hugging Face tokenizer's ids on a multilingual probe, and the F32 GGUF's logits through llama.cpp
match
transformers'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.gguf_meta import read_gguf
from quantize.convert import convert
from quantize.llama_run import Runner
from quantize.tokcheck import PROBE_TEXT, check_tokenizer, gguf_ids

CASES = ["llama-spm", "mistral-spm", "qwen2-bpe", "llama3-bpe"]


def _hf_logits(model_dir: Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize("case", CASES)
def test_tokenizer_ids_match_hf(case: str, tiny_model, tmp_path: Path) -> None:
    model_dir = tiny_model(case)  # first: it skips, saying why, where torch and transformers are missing
    from transformers import AutoTokenizer

    result = convert(model_dir, tmp_path / "m.gguf", "f32")
    expected = AutoTokenizer.from_pretrained(model_dir)(PROBE_TEXT, add_special_tokens=False)["input_ids"]
    got = gguf_ids(result.path, PROBE_TEXT)
    assert len(expected) > 50
    assert got == expected
    assert check_tokenizer(result.path, result.vocab) == len(expected)


@pytest.mark.parametrize("case", CASES)
def test_f32_logits_match_transformers(case: str, tiny_model, tmp_path: Path) -> None:
    model_dir = tiny_model(case)
    result = convert(model_dir, tmp_path / "m.gguf", "f32")
    ids = gguf_ids(result.path, PROBE_TEXT)[:48]
    with Runner(result.path, 64, 1) as runner:
        got = runner.decode(np.asarray(ids, dtype=np.int32), logits_from=0)
    want = _hf_logits(model_dir, ids)
    assert got.shape == want.shape
    scale = float(np.abs(want).max())
    assert scale > 1.0  # random weights with spread: a wrong layout would show
    np.testing.assert_allclose(got, want, atol=2e-3 * scale, rtol=0)
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def test_metadata_and_types(tiny_model, tmp_path: Path) -> None:
    model_dir = tiny_model("llama3-bpe")
    result = convert(model_dir, tmp_path / "m.gguf", "f16")
    meta = read_gguf(result.path)
    types = {t.name: t.type for t in meta.tensors}
    assert all(types[n] == "F32" for n in types if "norm" in n)
    assert types["blk.0.attn_q.weight"] == "F16"
    assert "output.weight" not in types  # tied embeddings share token_embd
    assert types["rope_freqs.weight"] == "F32"  # llama 3.1 rope scaling
    fields = meta.metadata
    assert fields["tokenizer.ggml.pre"] == "llama-bpe"
    assert fields["tokenizer.ggml.add_bos_token"] is True
    assert "<|" in meta.chat_template
    assert meta.arch_value("attention.head_count_kv") == 2


def test_qwen2_biases_are_written(tiny_model, tmp_path: Path) -> None:
    result = convert(tiny_model("qwen2-bpe"), tmp_path / "m.gguf", "bf16")
    meta = read_gguf(result.path)
    names = {t.name: t.type for t in meta.tensors}
    assert names["blk.1.attn_q.bias"] == "F32"
    assert names["blk.1.attn_v.weight"] == "BF16"
    assert meta.metadata["tokenizer.ggml.pre"] == "qwen2"
