"""Will a build fit a device? `device_fit` asks Hearth's memory planner (`assistant.planner`, with the device
profiles of `assistant.devices`); where the planner is unavailable, a small standalone estimate is used
instead:
weights + KV cache + llama.cpp's compute buffers against the memory a device leaves to applications.

Estimates, not measurements: the compute buffer follows llama.cpp's largest allocations for one micro-batch
(logits and activations, plus attention scores when flash attention is off); device reserves cover the OS and
the
CUDA context (Jetsons share one memory between CPU and GPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Device:
    """A deployment target."""

    name: str
    """Human-readable name."""
    memory_bytes: int
    """Physical memory the model can live in (unified RAM on Jetson, VRAM on L4)."""
    reserved_bytes: int
    """Taken by the OS, CUDA context and runtime before any model loads."""

    @property
    def usable_bytes(self) -> int:
        return self.memory_bytes - self.reserved_bytes


DEVICES: tuple[Device, ...] = (
    Device("Jetson Orin Nano 8GB", 8 * GiB, 2 * GiB),
    Device("Jetson Orin NX 16GB", 16 * GiB, 2 * GiB),
    Device("Jetson AGX Orin 32GB", 32 * GiB, int(2.5 * GiB)),
    Device("Jetson AGX Orin 64GB", 64 * GiB, int(2.5 * GiB)),
    Device("NVIDIA L4 24GB", 24 * GiB, 1 * GiB),
)
CONTEXTS = (2048, 4096, 8192)
KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What memory use depends on."""

    weights_bytes: int
    """Tensor data bytes of the model file."""
    n_layer: int
    """Transformer blocks."""
    n_embd: int
    """Hidden size."""
    n_head: int
    """Query heads."""
    n_head_kv: int
    """Key/value heads."""
    head_dim: int
    """Dimensions per head."""
    n_ff: int
    """Feed-forward inner size."""
    n_vocab: int
    """Vocabulary size."""


@dataclass(frozen=True, slots=True)
class MemoryNeed:
    """Bytes a model needs at one context length."""

    weights: int
    """Model weights."""
    kv: int
    """KV cache."""
    compute: int
    """Estimated compute buffers."""

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute


def kv_cache_bytes(shape: ModelShape, n_ctx: int, kv_type: str = "f16") -> int:
    return int(2 * shape.n_layer * n_ctx * shape.n_head_kv * shape.head_dim * KV_BYTES[kv_type])


def memory_need(
    shape: ModelShape, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512, flash_attn: bool = False
) -> MemoryNeed:
    ub = min(n_ubatch, n_ctx)
    compute = 4 * ub * (shape.n_vocab + 2 * shape.n_ff + 4 * shape.n_embd)
    if not flash_attn:
        compute += 4 * shape.n_head * n_ctx * ub
    return MemoryNeed(shape.weights_bytes, kv_cache_bytes(shape, n_ctx, kv_type), compute)


def shape_from_gguf(path: Path) -> ModelShape:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    arch = _field(reader, "general.architecture")
    n_embd = int(_field(reader, f"{arch}.embedding_length"))
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    head_dim = _field(reader, f"{arch}.attention.key_length", None)
    vocab = reader.fields.get("tokenizer.ggml.tokens")
    return ModelShape(
        weights_bytes=sum(int(t.n_bytes) for t in reader.tensors),
        n_layer=int(_field(reader, f"{arch}.block_count")),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=int(_field(reader, f"{arch}.attention.head_count_kv", n_head)),
        head_dim=int(head_dim) if head_dim is not None else n_embd // n_head,
        n_ff=int(_field(reader, f"{arch}.feed_forward_length")),
        n_vocab=len(vocab.data) if vocab is not None else 32000,
    )


def _field(reader: object, key: str, default: object = ...) -> object:
    f = reader.fields.get(key)
    if f is None:
        if default is ...:
            raise KeyError(key)
        return default
    value = f.contents()
    return value


def fit_table(shape: ModelShape, contexts: tuple[int, ...] = CONTEXTS, kv_type: str = "f16") -> list[dict]:
    """One row per device: usable memory and, per context length, the need and whether it fits."""
    rows = []
    for dev in DEVICES:
        per_ctx = {}
        for n_ctx in contexts:
            need = memory_need(shape, n_ctx, kv_type)
            per_ctx[str(n_ctx)] = {
                "need_bytes": need.total,
                "kv_bytes": need.kv,
                "compute_bytes": need.compute,
                "fits": need.total <= dev.usable_bytes,
                "headroom_bytes": dev.usable_bytes - need.total,
            }
        rows.append(
            {
                "device": dev.name,
                "memory_bytes": dev.memory_bytes,
                "usable_bytes": dev.usable_bytes,
                "kv_type": kv_type,
                "contexts": per_ctx,
            }
        )
    return rows


PLANNER_PROFILES = ("orin-nano-8gb", "orin-nx-16gb", "agx-orin-32gb", "agx-orin-64gb", "l4")


def device_fit(gguf_path: Path, contexts: tuple[int, ...] = CONTEXTS) -> list[dict]:
    """The manifest's device table: the planner's verdict per device and context (F16 KV cache, flash
    attention),
    or the standalone estimate when the planner cannot be imported."""
    try:
        from assistant.devices import load_profiles
        from assistant.gguf_meta import read_gguf
        from assistant.planner import PlanRequest, plan
        from assistant.planner import shape_from_gguf as planner_shape
    except ImportError:
        return fit_table(shape_from_gguf(gguf_path), contexts)
    shape = planner_shape(read_gguf(gguf_path))
    profiles = load_profiles()
    rows = []
    for pid in PLANNER_PROFILES:
        profile = profiles[pid]
        per_ctx = {}
        for n_ctx in contexts:
            p = plan(shape, profile, PlanRequest(n_ctx=n_ctx))
            per_ctx[str(n_ctx)] = {
                "fits": p.fits,
                "need_bytes": p.device_bytes + p.host_bytes,
                "budget_bytes": p.budget_bytes,
                "kv_bytes": p.kv_bytes,
                "compute_bytes": p.compute_bytes,
                "decode_tok_s_bound": round(p.decode_tok_s_bound, 1),
            }
        rows.append(
            {
                "device": profile.name,
                "profile": pid,
                "estimator": "assistant.planner",
                "kv_type": "f16",
                "max_ctx": p.max_ctx,
                "contexts": per_ctx,
            }
        )
    return rows
