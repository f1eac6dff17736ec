"""A GGUF of random weights in a real model's shape, for measuring speed where no real model can be carried
(scripts/gpu_check.py writes it on the GPU machine, which has no network).

The weights are random bytes with valid block scales, in llama.cpp's Q4_K_M layout (Q6_K for the output matrix
and for attn_v/ffn_down of the layers llama.cpp gives more bits); speed does not depend on their values. Shapes:
`7b` is Llama-2-7B's, `tiny` checks the scripts themselves on a laptop CPU in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHAPES = {
    # Llama-2-7B: 32 blocks, hidden 4096, 32 heads, feed-forward 11008, vocabulary 32000.
    "7b": {"n_layers": 32, "n_embd": 4096, "n_heads": 32, "n_kv_heads": 32, "n_ff": 11008, "n_vocab": 32000},
    # Small enough to write and run on a laptop CPU in seconds: for checking this script itself.
    "tiny": {"n_layers": 2, "n_embd": 256, "n_heads": 4, "n_kv_heads": 2, "n_ff": 512, "n_vocab": 1024},
}
Q4_K_BYTES, Q6_K_BYTES, QK_K = 144, 210, 256
FILE_TYPE_Q4_K_M = 15


def _blocks(rows: int, cols: int, qtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random quantized rows with small, finite block scales."""
    per_block = Q4_K_BYTES if qtype == "Q4_K" else Q6_K_BYTES
    data = rng.integers(0, 256, size=(rows, cols // QK_K, per_block), dtype=np.uint8)
    scale = np.frombuffer(np.float16(1e-3).tobytes(), dtype=np.uint8)
    if qtype == "Q4_K":  # d and dmin lead the block
        data[..., 0:2] = scale
        data[..., 2:4] = scale
    else:  # Q6_K: d trails it
        data[..., 208:210] = scale
    return data.reshape(rows, -1)


def _more_bits(i: int, n: int) -> bool:
    # llama.cpp's Q4_K_M rule for attn_v and ffn_down: first and last eighth, and every third layer between.
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def write_synthetic(path: Path, shape: str) -> None:
    import gguf

    s = SHAPES[shape]
    e, ff, hd = s["n_embd"], s["n_ff"], s["n_embd"] // s["n_heads"]
    kv = s["n_kv_heads"] * hd
    rng = np.random.default_rng(0)
    cache: dict[tuple[int, int, str], np.ndarray] = {}

    def q(rows: int, cols: int, qtype: str) -> np.ndarray:
        # one random array per distinct shape: memory bandwidth does not care that blocks repeat
        key = (rows, cols, qtype)
        if key not in cache:
            cache[key] = _blocks(rows, cols, qtype, rng)
        return cache[key]

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"hearth-synthetic-{shape}")
    w.add_context_length(4096)
    w.add_embedding_length(e)
    w.add_block_count(s["n_layers"])
    w.add_feed_forward_length(ff)
    w.add_head_count(s["n_heads"])
    w.add_head_count_kv(s["n_kv_heads"])
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(FILE_TYPE_Q4_K_M)
    n_vocab = s["n_vocab"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"tok{i}" for i in range(n_vocab - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    q4, q6 = gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K
    ones = np.ones(e, dtype=np.float32)
    w.add_tensor("token_embd.weight", q(n_vocab, e, "Q4_K"), raw_dtype=q4)
    for i in range(s["n_layers"]):
        more = _more_bits(i, s["n_layers"])
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", q(e, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.attn_k.weight", q(kv, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.attn_v.weight", q(kv, e, "Q6_K" if more else "Q4_K"), raw_dtype=q6 if more else q4)
        w.add_tensor(f"blk.{i}.attn_output.weight", q(e, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", q(ff, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_up.weight", q(ff, e, "Q4_K"), raw_dtype=q4)
        w.add_tensor(f"blk.{i}.ffn_down.weight", q(e, ff, "Q6_K" if more else "Q4_K"), raw_dtype=q6 if more else q4)
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", q(n_vocab, e, "Q6_K"), raw_dtype=q6)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
