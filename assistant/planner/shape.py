"""The numbers of a model the memory planner needs: from a GGUF's header (exact) or a catalog entry (estimated)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ..catalog import CatalogEntry
from ..errors import ModelFormatError
from ..gguf_meta import GGUFMeta

_BLOCK = re.compile(r"^blk\.(\d+)\.")
_TIED_BELOW_PARAMS = 4_000_000_000


@dataclass(frozen=True)
class ModelShape:
    """Architecture and tensor sizes of one model file."""

    name: str
    """Catalog id or file stem."""
    architecture: str
    """GGUF `general.architecture` (or the catalog family)."""
    quantization: str
    """File type, e.g. `Q4_K_M`."""
    n_layers: int
    """Transformer blocks."""
    n_heads: int
    """Query heads."""
    n_kv_heads: int
    """Key/value heads (fewer than `n_heads` with grouped-query attention)."""
    head_dim_k: int
    """Size of one key head."""
    head_dim_v: int
    """Size of one value head."""
    n_embd: int
    """Hidden size."""
    n_ff: int
    """Feed-forward size."""
    n_vocab: int
    """Vocabulary size."""
    n_ctx_train: int
    """Context length the model was trained for."""
    layer_bytes: tuple[int, ...]
    """Bytes of each block's tensors, block 0 first."""
    embd_bytes: int
    """`token_embd.weight`: stays on the CPU (a row lookup), read one row per token."""
    output_bytes: int
    """`output.weight`; with tied embeddings the output matrix is the embedding matrix and this equals embd_bytes."""
    other_bytes: int
    """Everything else outside the blocks (final norm, rope factors)."""
    file_bytes: int
    """Size of the file (tensors plus header and tokenizer), all of it memory-mapped."""
    tied_embeddings: bool
    """No `output.weight`: the output projection reuses `token_embd.weight`."""
    source: Literal["gguf", "catalog"]
    """`gguf`: read from the file (exact); `catalog`: estimated from the catalog's shape and file size."""

    @property
    def weights_bytes(self) -> int:
        """Bytes of all tensors (a tied output matrix is counted once)."""
        out = 0 if self.tied_embeddings else self.output_bytes
        return sum(self.layer_bytes) + self.embd_bytes + out + self.other_bytes

    @property
    def kv_dims(self) -> tuple[int, int]:
        """(K, V) values stored per token per layer."""
        return self.n_kv_heads * self.head_dim_k, self.n_kv_heads * self.head_dim_v


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, list):  # per-layer arrays (some architectures): plan for the largest layer
        value = max(value) if value else default
    return int(value) if value is not None else default


def shape_from_gguf(meta: GGUFMeta, name: str | None = None) -> ModelShape:
    """Exact shape and tensor sizes from a GGUF header (nothing is loaded)."""
    n_layers = _int(meta.arch_value("block_count"))
    n_heads = _int(meta.arch_value("attention.head_count"))
    n_embd = _int(meta.arch_value("embedding_length"))
    if not (n_layers and n_heads and n_embd):
        raise ModelFormatError(f"{meta.path}: GGUF metadata lacks block_count/head_count/embedding_length for "
                               f"architecture '{meta.architecture}'; cannot plan its memory")
    head_k = _int(meta.arch_value("attention.key_length"), n_embd // n_heads)
    layers = [0] * n_layers
    embd = output = other = 0
    for t in meta.tensors:
        m = _BLOCK.match(t.name)
        if m and int(m.group(1)) < n_layers:
            layers[int(m.group(1))] += t.n_bytes
        elif t.name == "token_embd.weight":
            embd = t.n_bytes
        elif t.name == "output.weight":
            output = t.n_bytes
        else:
            other += t.n_bytes
    tied = output == 0
    return ModelShape(
        name=name or meta.path.stem, architecture=meta.architecture, quantization=meta.quantization,
        n_layers=n_layers, n_heads=n_heads, n_kv_heads=_int(meta.arch_value("attention.head_count_kv"), n_heads),
        head_dim_k=head_k, head_dim_v=_int(meta.arch_value("attention.value_length"), head_k), n_embd=n_embd,
        n_ff=_int(meta.arch_value("feed_forward_length"), 4 * n_embd), n_vocab=meta.n_vocab,
        n_ctx_train=meta.context_length, layer_bytes=tuple(layers), embd_bytes=embd,
        output_bytes=embd if tied else output, other_bytes=other, file_bytes=meta.size_bytes,
        tied_embeddings=tied, source="gguf")


def shape_from_catalog(entry: CatalogEntry) -> ModelShape:
    """An estimate from the catalog, for a model that is not downloaded yet.

    The file's bytes are shared out in proportion to parameter counts: embedding and output matrices
    (n_vocab x n_embd each) and the blocks; the feed-forward size follows from the parameters left per block."""
    s = entry.hparams
    embd_params = s.n_vocab * s.n_embd
    attn_params = 2 * s.n_embd * s.n_heads * s.head_dim + 2 * s.n_embd * s.n_kv_heads * s.head_dim
    # The catalog does not say whether the output matrix is the embedding matrix; small models and the Gemma
    # family tie them, 7B-class Llama/Qwen/Mistral models do not.
    tied = entry.n_params < _TIED_BELOW_PARAMS or entry.family.startswith("gemma")
    block_params = (entry.n_params - (1 if tied else 2) * embd_params) / s.n_layers
    n_ff = max(s.n_embd, int((block_params - attn_params) / (3 * s.n_embd)))
    header = _header_estimate(s.n_vocab)
    per_param = max(entry.size_bytes - header, 1) / entry.n_params
    embd_bytes = int(embd_params * per_param)
    layer = int(block_params * per_param)
    return ModelShape(
        name=entry.id, architecture=entry.family, quantization=entry.quantization, n_layers=s.n_layers,
        n_heads=s.n_heads, n_kv_heads=s.n_kv_heads, head_dim_k=s.head_dim, head_dim_v=s.head_dim,
        n_embd=s.n_embd, n_ff=n_ff, n_vocab=s.n_vocab, n_ctx_train=entry.context_length,
        layer_bytes=(layer,) * s.n_layers, embd_bytes=embd_bytes, output_bytes=embd_bytes, other_bytes=0,
        file_bytes=entry.size_bytes, tied_embeddings=tied, source="catalog")


def _header_estimate(n_vocab: int) -> int:
    # GGUF header: the tokenizer (token strings, scores, types, merges) dominates, ~50 bytes per token.
    return 50 * n_vocab
