"""Resolve engine settings left at `auto` (n_ctx, n_gpu_layers, kv_type, flash_attn) with the memory planner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..devices.profile import DeviceProfile
from ..errors import ConfigError
from ..gguf_meta import GGUFMeta
from .memory import KV_TYPES
from .plan import MIN_CTX, PlanRequest, max_context, plan
from .shape import ModelShape, shape_from_gguf

if TYPE_CHECKING:
    from ..settings import EngineSettings

DEFAULT_AUTO_CTX_CAP = 32768
AUTO_MAX_PARALLEL = 4  # a home has a few clients at once (voice satellites, phones, an agent, the CLI)


@dataclass(frozen=True)
class ResolvedEngineConfig:
    """Concrete engine settings, with the reason for each one the planner chose."""

    n_ctx: int
    """Context window in tokens."""
    n_gpu_layers: int
    """Blocks offloaded to the GPU; -1 means all (and the output layer), 0 none."""
    kv_type: str
    """KV cache element type: `f16`, `q8_0` or `q4_0`."""
    flash_attn: bool
    """Whether to enable flash attention."""
    n_seq: int = 1
    """Slots (parallel sequences), each with `n_ctx` tokens of KV cache."""
    notes: list[str] = field(default_factory=list)
    """One line per choice: what was chosen and why."""


def gpu_offload_supported() -> bool:
    """Whether the installed llama.cpp build can offload to a GPU."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_auto(engine_settings: EngineSettings, meta: GGUFMeta, profile: DeviceProfile, *,
                 max_auto_ctx: int = DEFAULT_AUTO_CTX_CAP,
                 offload_supported: bool | Callable[[], bool] = gpu_offload_supported) -> ResolvedEngineConfig:
    """Replace every `auto` in `engine_settings` by the planner's choice for `meta` on `profile`.

    Explicit values are kept as they are (a note warns when they will not fit). The caller logs `notes`.
    Raises ConfigError when an explicit combination cannot work (a quantized KV cache without flash attention)
    or nothing fits."""
    es = engine_settings
    shape = shape_from_gguf(meta)
    notes: list[str] = []
    can_offload = offload_supported() if callable(offload_supported) else offload_supported
    gpu = profile.has_gpu and can_offload
    if profile.has_gpu and not can_offload:
        notes.append(f"{profile.name} has a GPU but this llama.cpp build is CPU-only: nothing is offloaded "
                     "(rebuild with scripts/install-cuda.sh)")
    if es.kv_type not in ("auto", "f16") and es.flash_attn is False:
        raise ConfigError(f"kv_type={es.kv_type} needs flash attention; set flash_attn to true or auto",
                          param="kv_type")
    fa = _flash_attn(es, gpu, notes)
    layers_req = _layers_request(es, shape, profile, gpu, notes)
    kv, n_ctx = _kv_and_ctx(es, shape, profile, fa, layers_req, max_auto_ctx, notes)
    n_seq = _parallel(es, shape, profile, PlanRequest(n_ctx=n_ctx, kv_type=kv, flash_attn=fa, n_batch=es.n_batch,
                                                      n_gpu_layers=layers_req), notes)
    final = plan(shape, profile, PlanRequest(n_ctx=n_ctx, kv_type=kv, flash_attn=fa, n_batch=es.n_batch,
                                             n_gpu_layers=layers_req, n_seq=n_seq))
    n_gpu = -1 if gpu and final.gpu_layers >= shape.n_layers else (final.gpu_layers if gpu else 0)
    if es.n_gpu_layers == "auto" and gpu and not profile.unified_memory:
        notes.append(f"n_gpu_layers={n_gpu}: " + (f"all {shape.n_layers} blocks fit in VRAM" if n_gpu < 0 else
                                                  f"{n_gpu} of {shape.n_layers} blocks fit in VRAM"))
    if not final.fits:
        notes.append(f"warning: predicted {final.device_bytes / 1e9:.2f} GB exceeds the {profile.name} budget of "
                     f"{final.budget_bytes / 1e9:.2f} GB; loading may fail or swap")
    return ResolvedEngineConfig(n_ctx=n_ctx, n_gpu_layers=n_gpu, kv_type=kv, flash_attn=fa, n_seq=n_seq,
                                notes=notes)


def _parallel(es: EngineSettings, shape: ModelShape, profile: DeviceProfile, req: PlanRequest,
              notes: list[str]) -> int:
    """Explicit slots as given; `auto`: the most of AUTO_MAX_PARALLEL, 2, 1 whose KV caches still fit after the
    context was chosen (context first: one long conversation matters more than a fourth parallel stream)."""
    if es.parallel != "auto":
        return int(es.parallel)
    for n in (AUTO_MAX_PARALLEL, 2, 1):
        if n == 1 or plan(shape, profile, replace(req, n_seq=n)).fits:
            notes.append(f"parallel={n}: " + ("every slot's KV cache fits" if n > 1 else
                                              "a second slot's KV cache would not fit"))
            return n
    return 1


def _flash_attn(es: EngineSettings, gpu: bool, notes: list[str]) -> bool:
    if es.flash_attn != "auto":
        return bool(es.flash_attn)
    # Flash attention drops the n_ctx x n_batch score matrix from the compute buffer on CPU and GPU alike, is
    # faster on CUDA, and the quantized KV types need it.
    notes.append("flash_attn=True: no n_ctx x n_batch attention-score buffer" + ("; faster on CUDA" if gpu else ""))
    return True


def _layers_request(es: EngineSettings, shape: ModelShape, profile: DeviceProfile, gpu: bool,
                    notes: list[str]) -> int | None:
    """An explicit block count, or None to let the plan fit as many as VRAM holds."""
    if es.n_gpu_layers != "auto":
        return int(es.n_gpu_layers) if gpu else 0
    if not gpu:
        notes.append("n_gpu_layers=0: " + ("CPU-only llama.cpp build" if profile.has_gpu else
                                           f"{profile.name} has no GPU"))
        return 0
    if profile.unified_memory:
        notes.append(f"n_gpu_layers=-1 (all {shape.n_layers} blocks): unified memory, offloading costs no "
                     "extra memory and uses the GPU's bandwidth")
        return -1
    return None


def _kv_and_ctx(es: EngineSettings, shape: ModelShape, profile: DeviceProfile, fa: bool,
                layers_req: int | None, cap: int, notes: list[str]) -> tuple[str, int]:
    """The KV type and context: the most precise KV type that reaches the target context, else the one that
    reaches furthest."""
    kv_choices = [es.kv_type] if es.kv_type != "auto" else [k for k in KV_TYPES if k == "f16" or fa]
    target = min(cap, shape.n_ctx_train or cap)
    if es.n_ctx != "auto":
        target = int(es.n_ctx)
    best: tuple[int, str] | None = None
    for kv in kv_choices:
        req = PlanRequest(n_ctx=target, kv_type=kv, flash_attn=fa, n_batch=es.n_batch, n_gpu_layers=layers_req)
        fit = plan(shape, profile, req)
        reach = max_context(shape, profile, req, fit.gpu_layers, cap=max(target, MIN_CTX))
        if best is None or reach > best[0]:
            best = (reach, kv)
        if reach >= target:
            break
    assert best is not None
    reach, kv = best
    if es.n_ctx != "auto":
        if es.kv_type == "auto":
            notes.append(f"kv_type={kv}: " + ("n_ctx fits with full precision" if kv == "f16" else
                                              f"f16 would not fit n_ctx={target}"))
        return kv, target
    if reach < MIN_CTX:
        raise ConfigError(f"{shape.name} does not fit {profile.name} even with a {MIN_CTX}-token context and a "
                          f"{kv} KV cache (budget {profile.budget_bytes / 1e9:.2f} GB); choose a smaller model",
                          param="n_ctx")
    why = "the trained context" if target == shape.n_ctx_train else f"the cap device.max_auto_ctx={cap}"
    notes.append(f"n_ctx={reach}: " + (f"{why}, and it fits" if reach >= target else
                                       f"the largest that fits {profile.name}"))
    if es.kv_type == "auto":
        notes.append(f"kv_type={kv}: " + ("full precision fits" if kv == "f16" else
                                          "f16 would not fit; a quantized KV cache trades a little quality for "
                                          "memory"))
    return kv, reach
