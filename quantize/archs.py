"""Which Hugging Face architectures the converter supports, and what each needs: GGUF architecture,
hyperparameter
keys, q/k permutation, rope scaling.

llama.cpp's `llama` architecture applies rotary embeddings to adjacent pairs of a head's dimensions, while
Hugging
Face's Llama checkpoints were permuted so rotation pairs dimension i with i + head_dim/2; the q/k rows are
permuted
back here. Qwen2 runs with NEOX-style rope in llama.cpp and needs no permutation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

from assistant.errors import ModelFormatError, UnsupportedModelError


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """How one Hugging Face architecture maps to GGUF."""

    hf_name: str
    """The `architectures` entry in config.json."""
    model_type: str
    """config.json `model_type`, used when `architectures` is missing."""
    gguf_arch: gguf.MODEL_ARCH
    """llama.cpp architecture."""
    permute_qk: bool
    """Whether q/k projection rows must be permuted for llama.cpp's rope layout."""
    families: str
    """Human-readable list of model families covered."""


SUPPORTED: tuple[ArchSpec, ...] = (
    ArchSpec(
        "LlamaForCausalLM",
        "llama",
        gguf.MODEL_ARCH.LLAMA,
        True,
        "Llama 2, Llama 3/3.1/3.2, SmolLM, TinyLlama",
    ),
    ArchSpec("MistralForCausalLM", "mistral", gguf.MODEL_ARCH.LLAMA, True, "Mistral 7B"),
    ArchSpec("Qwen2ForCausalLM", "qwen2", gguf.MODEL_ARCH.QWEN2, False, "Qwen2, Qwen2.5"),
)


def supported_list() -> str:
    return ", ".join(f"{a.hf_name} ({a.families})" for a in SUPPORTED)


def resolve_arch(config: dict[str, Any]) -> ArchSpec:
    """The spec for a config.json, or UnsupportedModelError naming the supported architectures."""
    names = config.get("architectures") or []
    for spec in SUPPORTED:
        if spec.hf_name in names:
            return spec
    if not names:
        for spec in SUPPORTED:
            if spec.model_type == config.get("model_type"):
                return spec
    found = ", ".join(names) or f"model_type {config.get('model_type')!r}"
    raise UnsupportedModelError(f"unsupported architecture {found}; supported: {supported_list()}")


@dataclass(frozen=True, slots=True)
class HParams:
    """The hyperparameters the converter writes, read from config.json."""

    n_layer: int
    """Transformer blocks."""
    n_embd: int
    """Hidden size."""
    n_ff: int
    """Feed-forward inner size."""
    n_head: int
    """Attention (query) heads."""
    n_head_kv: int
    """Key/value heads (grouped-query attention when smaller than n_head)."""
    head_dim: int
    """Dimensions per head."""
    n_vocab: int
    """Embedding rows."""
    n_ctx_train: int
    """Context the model was trained for."""
    rms_eps: float
    """RMSNorm epsilon."""
    rope_theta: float
    """Rope base frequency."""
    rope_scaling: dict[str, Any] | None
    """Rope scaling parameters (type `llama3`, `linear`, `yarn`), or None."""
    tied_embeddings: bool
    """Output projection shares the token embedding."""


def read_hparams(config: dict[str, Any]) -> HParams:
    try:
        n_embd, n_head = int(config["hidden_size"]), int(config["num_attention_heads"])
        rope = dict(config.get("rope_parameters") or {})
        scaling = config.get("rope_scaling") or None
        if scaling is None and rope.get("rope_type", "default") != "default":
            scaling = rope
        theta = config.get("rope_theta", rope.get("rope_theta", 10000.0))
        return HParams(
            n_layer=int(config["num_hidden_layers"]),
            n_embd=n_embd,
            n_ff=int(config["intermediate_size"]),
            n_head=n_head,
            n_head_kv=int(config.get("num_key_value_heads") or n_head),
            head_dim=int(config.get("head_dim") or n_embd // n_head),
            n_vocab=int(config["vocab_size"]),
            n_ctx_train=int(config.get("max_position_embeddings") or 2048),
            rms_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=float(theta),
            rope_scaling=_normalise_scaling(scaling),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except KeyError as exc:
        raise ModelFormatError(f"config.json lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"config.json has an invalid value: {exc}") from None


def _normalise_scaling(scaling: dict[str, Any] | None) -> dict[str, Any] | None:
    if not scaling:
        return None
    kind = scaling.get("rope_type") or scaling.get("type") or "default"
    if kind == "default":
        return None
    if kind not in ("llama3", "linear", "yarn"):
        raise UnsupportedModelError(
            f"rope scaling type {kind!r} is not supported (supported: llama3, linear, yarn)"
        )
    return {**scaling, "rope_type": kind}


def write_hparams(w: gguf.GGUFWriter, hp: HParams) -> None:
    w.add_context_length(hp.n_ctx_train)
    w.add_embedding_length(hp.n_embd)
    w.add_block_count(hp.n_layer)
    w.add_feed_forward_length(hp.n_ff)
    w.add_head_count(hp.n_head)
    w.add_head_count_kv(hp.n_head_kv)
    w.add_rope_freq_base(hp.rope_theta)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    w.add_rope_dimension_count(hp.head_dim)
    w.add_vocab_size(hp.n_vocab)
    if hp.head_dim * hp.n_head != hp.n_embd:
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)
    sc = hp.rope_scaling
    if sc is None or sc["rope_type"] == "llama3":  # llama3 scaling travels as the rope_freqs tensor
        return
    w.add_rope_scaling_type(
        gguf.RopeScalingType.LINEAR if sc["rope_type"] == "linear" else gguf.RopeScalingType.YARN
    )
    w.add_rope_scaling_factor(float(sc["factor"]))
    if sc["rope_type"] == "yarn" and sc.get("original_max_position_embeddings"):
        w.add_rope_scaling_orig_ctx_len(int(sc["original_max_position_embeddings"]))


def llama3_rope_factors(hp: HParams) -> np.ndarray | None:
    """Per-frequency divisors for Llama 3.1's rope scaling (None when the model does not use it).

    Long wavelengths are stretched by `factor`, short ones are kept, and the band between is interpolated
    smoothly
    (Meta's published formula); llama.cpp reads the result as the `rope_freqs` tensor.
    """
    sc = hp.rope_scaling
    if sc is None or sc["rope_type"] != "llama3":
        return None
    factor, low, high = (
        float(sc["factor"]),
        float(sc.get("low_freq_factor", 1.0)),
        float(sc.get("high_freq_factor", 4.0)),
    )
    old_ctx = float(sc.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for i in range(0, hp.head_dim, 2):
        wavelen = 2 * math.pi / (1.0 / hp.rope_theta ** (i / hp.head_dim))
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def permute_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder each head's rows from (half, pair) to (pair, half) order, for weights and biases alike."""
    rows = w.shape[0]
    if rows % (2 * n_heads):
        raise ModelFormatError(f"q/k projection with {rows} rows cannot be split into {n_heads} heads")
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
