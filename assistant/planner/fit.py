"""Device-fit tables from the memory planner: the quantizer's manifest table and the README's table (generated
here, checked by a test like the settings table; regenerate with `python -m assistant.planner.fit --write
README.md`).

Both are the planner's verdicts on the device profiles of `assistant/devices/profiles.toml` (an f16 KV cache and
flash attention unless asked otherwise); there is no second memory model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog import load_catalog
from ..devices import DeviceProfile, load_profiles
from .plan import PlanRequest, plan
from .shape import ModelShape, shape_from_catalog

MANIFEST_DEVICES = ("orin-nano-8gb", "orin-nx-16gb", "agx-orin-32gb", "agx-orin-64gb", "l4")
"""Profiles of the quantizer's manifest table: the Jetson Orin line and the L4."""
MANIFEST_CONTEXTS = (2048, 4096, 8192)
"""Context lengths (tokens) of the manifest table."""
README_DEVICES = ("orin-nano-8gb", "orin-nano-8gb-super", "orin-nx-16gb", "agx-orin-32gb", "agx-orin-64gb", "l4")
"""Rows of the README's table."""
README_MODELS = ("qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "mistral-7b-instruct-v0.3")
"""Columns of the README's table: the catalog's 7-8B models (Q4_K_M), planned from the catalog's numbers."""
README_CTX = 8192
"""Context length (tokens) of the README's table."""
_MARKERS = ("<!-- fit-table:start -->", "<!-- fit-table:end -->")


def device_rows(shape: ModelShape, devices: tuple[str, ...] = MANIFEST_DEVICES,
                contexts: tuple[int, ...] = MANIFEST_CONTEXTS, kv_type: str = "f16") -> list[dict[str, Any]]:
    """One row per device profile: per context length (a string key, as JSON keeps it) whether it fits, the bytes
    needed against the budget, the KV cache and compute buffers, and the decode bound (tokens/s); `max_ctx` is
    the largest context that fits. Raises KeyError for an unknown profile id."""
    profiles = load_profiles()
    rows = []
    for pid in devices:
        profile = profiles[pid]
        per_ctx = {}
        for n_ctx in contexts:
            p = plan(shape, profile, PlanRequest(n_ctx=n_ctx, kv_type=kv_type))
            per_ctx[str(n_ctx)] = {"fits": p.fits, "need_bytes": p.device_bytes + p.host_bytes,
                                   "budget_bytes": p.budget_bytes, "kv_bytes": p.kv_bytes,
                                   "compute_bytes": p.compute_bytes,
                                   "decode_tok_s_bound": round(p.decode_tok_s_bound, 1)}
        rows.append({"device": profile.name, "profile": pid, "estimator": "assistant.planner", "kv_type": kv_type,
                     "max_ctx": p.max_ctx, "contexts": per_ctx})
    return rows


def device_fit(gguf_path: Path) -> list[dict[str, Any]]:
    """The quantizer manifest's device table for the GGUF at `gguf_path` (`device_rows` on its header)."""
    from ..gguf_meta import read_gguf
    from .shape import shape_from_gguf

    return device_rows(shape_from_gguf(read_gguf(Path(gguf_path))))


def _cell(shape: ModelShape, profile: DeviceProfile, n_ctx: int) -> str:
    p = plan(shape, profile, PlanRequest(n_ctx=n_ctx))
    verdict = "fits" if p.fits else "no"
    return f"{verdict}, max {p.max_ctx}, <= {p.decode_tok_s_bound:.0f} tok/s"


def markdown(devices: tuple[str, ...] = README_DEVICES, models: tuple[str, ...] = README_MODELS,
             n_ctx: int = README_CTX) -> str:
    """The README's table: per device (rows) and catalog model (columns) whether it fits at `n_ctx` with an f16
    KV cache, the largest context that fits, and the decode bound."""
    catalog, profiles = load_catalog(), load_profiles()
    shapes = {m: shape_from_catalog(catalog.get(m)) for m in models}
    lines = ["| device | " + " | ".join(f"`{m}`" for m in models) + " |",
             "| --- |" + " --- |" * len(models)]
    for pid in devices:
        profile = profiles[pid]
        label = f"{profile.name} ({profile.bandwidth_gbs:g} GB/s)"
        lines.append(f"| {label} | " + " | ".join(_cell(shapes[m], profile, n_ctx) for m in models) + " |")
    return "\n".join(lines)


def write_readme(path: str) -> None:
    """Replace the table between the README's fit-table markers."""
    readme = Path(path)
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(_MARKERS[0])
    _, tail = rest.split(_MARKERS[1])
    readme.write_text(f"{head}{_MARKERS[0]}\n{markdown()}\n{_MARKERS[1]}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write_readme(sys.argv[2])
    else:
        print(markdown())
