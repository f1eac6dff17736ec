"""A memory plan: what a model needs on a device at a context length, whether it fits, and how fast it can be."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..devices.host import HOST_OVERHEAD_BYTES
from ..devices.profile import DeviceProfile
from ..errors import InvalidRequestError
from .memory import (
    KV_TYPES,
    compute_bytes,
    decode_bound_tok_s,
    kv_bytes,
    kv_cells,
    pad,
    reserved_compute_bytes,
    ubatch,
)
from .shape import ModelShape

MIN_CTX = 256


@dataclass(frozen=True)
class PlanRequest:
    """The settings a plan is made for."""

    n_ctx: int
    """Context length per sequence, in tokens."""
    kv_type: str = "f16"
    """KV cache element type: `f16`, `q8_0` or `q4_0` (quantized V needs flash attention)."""
    flash_attn: bool = True
    """Flash attention (no n_ctx x n_batch score matrix; required for a quantized KV cache)."""
    n_batch: int = 512
    """Prompt tokens per forward pass (the engine's micro-batch: at most n_ctx)."""
    n_seq: int = 1
    """Parallel sequences, each with its own `n_ctx` of KV cache."""
    n_gpu_layers: int | None = None
    """Blocks to offload; None: as many as fit (all, on unified memory); ignored on a CPU profile."""
    prompt_tokens: int = 128
    """Tokens of a typical prompt, for the resident-memory estimate on a CPU."""

    def __post_init__(self) -> None:
        if self.kv_type not in KV_TYPES:
            raise InvalidRequestError(f"kv_type must be one of {', '.join(KV_TYPES)}, not {self.kv_type!r}",
                                      param="kv_type")
        if self.kv_type != "f16" and not self.flash_attn:
            raise InvalidRequestError(f"a {self.kv_type} KV cache needs flash attention (llama.cpp refuses a "
                                      "quantized V cache without it)", param="kv_type")
        if self.n_ctx < 1 or self.n_seq < 1 or self.n_batch < 1:
            raise InvalidRequestError("n_ctx, n_seq and n_batch must be positive", param="n_ctx")


@dataclass(frozen=True)
class Plan:
    """Memory and speed of one model on one device with one set of settings."""

    model: str
    """Model name."""
    device: str
    """Device profile id."""
    request: PlanRequest
    """The settings planned for."""
    n_layers: int
    """Blocks of the model."""
    gpu_layers: int
    """Blocks on the GPU (0 on a CPU)."""
    weights_bytes: int
    """All tensor bytes."""
    kv_bytes: int
    """KV cache bytes."""
    compute_bytes: int
    """Compute buffers as llama.cpp reserves them."""
    overhead_bytes: int
    """Runtime overhead (CUDA context, the Python process)."""
    device_bytes: int
    """What lands in the profile's memory (VRAM, or the one pool on CPU/unified devices)."""
    host_bytes: int
    """What lands in host RAM beside a discrete GPU (0 when there is one pool)."""
    budget_bytes: int
    """The profile's memory available to Hearth."""
    resident_bytes: int
    """Expected resident set on a CPU after a typical prompt (untouched reserved pages excluded)."""
    fits: bool
    """Whether device_bytes fits the budget (and host_bytes the host RAM)."""
    max_ctx: int
    """Largest context per sequence (a multiple of 256, at most the trained length) that fits; 0 if none."""
    decode_tok_s_bound: float
    """Upper bound on decode tokens/s with the whole context filled."""
    decode_tok_s_bound_empty: float
    """Upper bound on decode tokens/s at the start of a conversation."""
    notes: list[str] = field(default_factory=list)
    """Why the numbers are what they are."""

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.compute_bytes + self.overhead_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("request"))
        data["total_bytes"] = self.total_bytes
        data["decode_tok_s_bound"] = round(self.decode_tok_s_bound, 1)
        data["decode_tok_s_bound_empty"] = round(self.decode_tok_s_bound_empty, 1)
        return data


@dataclass(frozen=True)
class _Usage:
    device: int
    host: int
    weights: int
    kv: int
    compute: int
    overhead: int


def _discrete(profile: DeviceProfile) -> bool:
    return profile.kind == "gpu" and not profile.unified_memory


def _usage(shape: ModelShape, profile: DeviceProfile, req: PlanRequest, n_ctx: int, gpu_layers: int) -> _Usage:
    weights = shape.weights_bytes
    kv = kv_bytes(shape, n_ctx, req.kv_type, req.n_seq)
    compute = reserved_compute_bytes(shape, n_ctx, req.n_batch, req.flash_attn, req.n_seq)
    if not _discrete(profile):
        overhead = profile.overhead_bytes if profile.kind != "cpu" else HOST_OVERHEAD_BYTES
        # mmap: the whole file (header and tokenizer too) is mapped and touched
        total = shape.file_bytes + kv + compute + overhead
        return _Usage(total, 0, weights, kv, compute, overhead)
    split = shape.n_layers - gpu_layers
    all_on_gpu = gpu_layers >= shape.n_layers
    dev_weights = sum(shape.layer_bytes[split:]) + (shape.output_bytes + shape.other_bytes if all_on_gpu else 0)
    dev_kv = kv_bytes(shape, n_ctx, req.kv_type, req.n_seq, layers=gpu_layers)
    dev_compute = compute if gpu_layers else 0
    host_compute = 0 if all_on_gpu else compute
    device = dev_weights + dev_kv + dev_compute + (profile.overhead_bytes if gpu_layers else 0)
    host_weights = shape.file_bytes - dev_weights + (shape.embd_bytes if shape.tied_embeddings and all_on_gpu else 0)
    host = host_weights + (kv - dev_kv) + host_compute + HOST_OVERHEAD_BYTES
    overhead = profile.overhead_bytes + HOST_OVERHEAD_BYTES
    return _Usage(device, host, weights, kv, dev_compute + host_compute, overhead)


def _fits(profile: DeviceProfile, u: _Usage) -> bool:
    if u.device > profile.budget_bytes:
        return False
    return not (_discrete(profile) and profile.host_memory_bytes is not None and u.host > profile.host_memory_bytes)


def _gpu_layers(shape: ModelShape, profile: DeviceProfile, req: PlanRequest) -> int:
    if profile.kind == "cpu":
        return 0
    if req.n_gpu_layers is not None:
        return shape.n_layers if req.n_gpu_layers < 0 else min(req.n_gpu_layers, shape.n_layers)
    if not _discrete(profile):
        return shape.n_layers  # one memory: offloading costs nothing extra
    for n in range(shape.n_layers, -1, -1):
        if _usage(shape, profile, req, req.n_ctx, n).device <= profile.budget_bytes:
            return n
    return 0


def max_context(shape: ModelShape, profile: DeviceProfile, req: PlanRequest, gpu_layers: int,
                cap: int | None = None) -> int:
    """Largest context per sequence (multiple of 256, at most `cap` or the trained length) that fits."""
    limit = min(cap, shape.n_ctx_train) if cap and shape.n_ctx_train else (cap or shape.n_ctx_train or 131072)
    hi = limit // MIN_CTX * MIN_CTX
    if hi < MIN_CTX or not _fits(profile, _usage(shape, profile, req, MIN_CTX, gpu_layers)):
        return 0
    lo, step_hi = MIN_CTX, hi
    if _fits(profile, _usage(shape, profile, req, hi, gpu_layers)):
        return hi
    # memory grows monotonically with n_ctx: bisect over multiples of 256
    while step_hi - lo > MIN_CTX:
        mid = (lo + step_hi) // 2 // MIN_CTX * MIN_CTX
        if _fits(profile, _usage(shape, profile, req, mid, gpu_layers)):
            lo = mid
        else:
            step_hi = mid
    return lo


def plan(shape: ModelShape, profile: DeviceProfile, req: PlanRequest) -> Plan:
    """Plan `shape` on `profile` with the settings in `req`."""
    gpu_layers = _gpu_layers(shape, profile, req)
    u = _usage(shape, profile, req, req.n_ctx, gpu_layers)
    host_gbs = profile.host_bandwidth_gbs if _discrete(profile) else None
    layers_arg = gpu_layers if _discrete(profile) else None
    bound = decode_bound_tok_s(shape, req.kv_type, req.n_ctx, profile.bandwidth_gbs, host_gbs, layers_arg)
    bound0 = decode_bound_tok_s(shape, req.kv_type, 0, profile.bandwidth_gbs, host_gbs, layers_arg)
    return Plan(
        model=shape.name, device=profile.id, request=req, n_layers=shape.n_layers, gpu_layers=gpu_layers,
        weights_bytes=u.weights, kv_bytes=u.kv, compute_bytes=u.compute, overhead_bytes=u.overhead,
        device_bytes=u.device, host_bytes=u.host, budget_bytes=profile.budget_bytes,
        resident_bytes=resident_bytes(shape, req), fits=_fits(profile, u),
        max_ctx=max_context(shape, profile, req, gpu_layers), decode_tok_s_bound=bound,
        decode_tok_s_bound_empty=bound0, notes=_notes(shape, profile, req, gpu_layers, u))


def resident_bytes(shape: ModelShape, req: PlanRequest) -> int:
    """Expected RSS of a CPU process after one prompt of `req.prompt_tokens` and a few generated tokens.

    Reserved compute pages that were never written (logit rows nobody asked for, attention scores over empty
    cells) are not resident on Linux, so this counts the graph for the prompt actually processed."""
    n_tok = min(ubatch(req.n_batch, req.n_ctx), req.prompt_tokens)
    cells = pad(min(req.prompt_tokens, req.n_ctx))
    graph = compute_bytes(shape, cells, n_tok, req.flash_attn, n_outputs=1)
    return HOST_OVERHEAD_BYTES + shape.file_bytes + kv_bytes(shape, req.n_ctx, req.kv_type, req.n_seq) + graph


def _notes(shape: ModelShape, profile: DeviceProfile, req: PlanRequest, gpu_layers: int, u: _Usage) -> list[str]:
    notes = []
    if shape.source == "catalog":
        notes.append("model not downloaded: tensor sizes estimated from the catalog's shape and file size")
    if profile.unified_memory and profile.kind != "cpu":
        notes.append(f"unified memory: {profile.reserve_os_bytes / 1e9:.1f} GB kept for the OS and other "
                     "processes (HEARTH_DEVICE_RESERVE_OS_BYTES); the file's page cache left after the weights "
                     "are copied to CUDA buffers is reclaimable and not counted")
    if _discrete(profile) and gpu_layers < shape.n_layers:
        notes.append(f"only {gpu_layers} of {shape.n_layers} blocks fit in VRAM; the rest run on the CPU")
    if shape.n_ctx_train and req.n_ctx > shape.n_ctx_train:
        notes.append(f"n_ctx {req.n_ctx} exceeds the trained context {shape.n_ctx_train}")
    if kv_cells(req.n_ctx, req.n_seq) != req.n_ctx * req.n_seq:
        notes.append(f"llama.cpp rounds the KV cache up to {kv_cells(req.n_ctx, req.n_seq)} cells")
    if not req.flash_attn and req.n_ctx >= 8192:
        notes.append("without flash attention the n_ctx x n_batch score matrix dominates the compute buffer")
    return notes
