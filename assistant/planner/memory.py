"""Memory arithmetic of llama.cpp: KV cache, compute buffers, and the decode-speed bound.

The formulas follow what llama.cpp (the version llama-cpp-python 0.3.36 vendors) allocates and reports:
- KV cache: `cells x layers x (n_kv_heads x head_dim_k x size(type_k) + n_kv_heads x head_dim_v x size(type_v))`
  with `cells = n_ctx x n_seq` rounded up to 256. Quantized types are stored in blocks of 32 values
  (q8_0: 34 bytes, q4_0: 18 bytes). llama.cpp logs the same number as `llama_kv_cache: size = ...`.
- Compute buffer: the graph allocator reserves the largest live set of one micro-batch (`n_ubatch` tokens):
  the logits for every output row (`n_vocab x n_ubatch` floats), or, without flash attention, the attention
  scores (`n_heads x cells x n_ubatch` floats plus the mask); fitted to llama.cpp's `compute buffer size` lines.
  Pages of it that a run never touches (logits of rows nobody asked for) do not become resident on a CPU.
"""

from __future__ import annotations

from .shape import ModelShape

KV_CELL_PAD = 256
F32 = 4

# (bytes per block, values per block) of the KV cache types llama.cpp accepts from Hearth.
KV_TYPE_SIZES: dict[str, tuple[int, int]] = {"f16": (2, 1), "q8_0": (34, 32), "q4_0": (18, 32)}
KV_TYPES = tuple(KV_TYPE_SIZES)


def pad(n: int, to: int = KV_CELL_PAD) -> int:
    return -(-n // to) * to


def kv_cells(n_ctx: int, n_seq: int = 1) -> int:
    """KV cells llama.cpp allocates: the whole context of every sequence, padded to 256."""
    return pad(n_ctx * n_seq)


def kv_value_bytes(n_values: int, kv_type: str) -> float:
    block_bytes, block_values = KV_TYPE_SIZES[kv_type]
    return n_values * block_bytes / block_values


def kv_bytes_per_cell(shape: ModelShape, kv_type: str, layers: int | None = None) -> float:
    """Bytes of K plus V for one token position across `layers` blocks (all by default)."""
    k, v = shape.kv_dims
    n = shape.n_layers if layers is None else layers
    return n * (kv_value_bytes(k, kv_type) + kv_value_bytes(v, kv_type))


def kv_bytes(shape: ModelShape, n_ctx: int, kv_type: str, n_seq: int = 1, layers: int | None = None) -> int:
    """Bytes of the KV cache for `n_ctx` tokens per sequence."""
    return int(kv_cells(n_ctx, n_seq) * kv_bytes_per_cell(shape, kv_type, layers))


def ubatch(n_batch: int, n_ctx: int) -> int:
    """Tokens per forward pass: Hearth's engine sets n_ubatch = n_batch, at most the context."""
    return max(1, min(n_batch, n_ctx))


def compute_bytes(shape: ModelShape, cells: int, n_tokens: int, flash_attn: bool, n_outputs: int | None = None) -> int:
    """Largest live set of the graph for `n_tokens` tokens attending over `cells` KV cells.

    `n_outputs` rows of logits are computed (the reservation assumes every token; a generation needs one)."""
    outputs = n_tokens if n_outputs is None else n_outputs
    logits = outputs * shape.n_vocab * F32 + 2 * n_tokens * shape.n_embd * F32
    activations = 6 * n_tokens * shape.n_embd * F32
    if flash_attn:
        attention = n_tokens * cells * 2 + activations  # f16 mask; scores live in per-thread tiles
    else:
        attention = n_tokens * (shape.n_heads * cells * F32 + cells * F32) + activations
    ffn = n_tokens * (2 * shape.n_embd + 3 * shape.n_ff) * F32
    return int(max(logits, attention, ffn))


def reserved_compute_bytes(shape: ModelShape, n_ctx: int, n_batch: int, flash_attn: bool, n_seq: int = 1) -> int:
    """What llama.cpp reserves for the compute buffer at context creation (worst case of one micro-batch)."""
    return compute_bytes(shape, kv_cells(n_ctx, n_seq), ubatch(n_batch, n_ctx), flash_attn)


def read_bytes_per_token(shape: ModelShape, kv_type: str, context_tokens: int,
                         gpu_layers: int | None = None) -> tuple[float, float]:
    """(bytes read from device memory, bytes read from host memory) to decode one token at `context_tokens`.

    Every block's weights and the output matrix are read once per token, plus the KV cache up to the current
    position; the embedding lookup reads one row (negligible). `gpu_layers` None: all on the device."""
    n_gpu = shape.n_layers if gpu_layers is None else max(0, min(gpu_layers, shape.n_layers))
    per_cell = kv_bytes_per_cell(shape, kv_type, 1)
    split = shape.n_layers - n_gpu  # llama.cpp offloads the last blocks first
    device = sum(shape.layer_bytes[split:]) + n_gpu * per_cell * context_tokens
    host = sum(shape.layer_bytes[:split]) + split * per_cell * context_tokens
    head = shape.output_bytes + shape.other_bytes
    if n_gpu == shape.n_layers:
        device += head
    else:
        host += head
    return float(device), float(host)


def decode_bound_tok_s(shape: ModelShape, kv_type: str, context_tokens: int, device_gbs: float,
                       host_gbs: float | None = None, gpu_layers: int | None = None) -> float:
    """Upper bound on decode tokens/s: the time to stream each token's bytes through memory at full bandwidth."""
    device, host = read_bytes_per_token(shape, kv_type, context_tokens, gpu_layers)
    seconds = device / (device_gbs * 1e9)
    if host:
        seconds += host / ((host_gbs or device_gbs) * 1e9)
    return 1.0 / seconds if seconds > 0 else 0.0
