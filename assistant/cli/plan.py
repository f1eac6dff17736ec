"""`hearth plan`: what a model needs on a device, whether it fits, the largest context and a decode-speed bound."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..devices import all_profiles, detect_profile, get_profile
from ..devices.profile import DeviceProfile
from ..errors import InvalidRequestError
from ..planner import KV_TYPES, Plan, PlanRequest, load_shape, plan
from ..runtime import open_store
from ..settings import Settings
from .common import cli_errors, human_bytes, out, print_json
from .options import settings_command


def _profile(settings: Settings, device: str | None) -> DeviceProfile:
    dev = settings.device
    chosen = device or dev.profile
    if chosen == "auto":
        return detect_profile(settings)
    return get_profile(chosen, settings.home, reserve_os_bytes=dev.reserve_os_bytes,
                       host_bandwidth_gbs=dev.host_bandwidth_gbs)


def _print_plan(p: Plan, profile: DeviceProfile) -> None:
    r = p.request
    table = Table(title=f"{p.model} on {profile.name}", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    rows = [
        ("context", f"{r.n_ctx} x {r.n_seq} seq, KV {r.kv_type}, FA {'on' if r.flash_attn else 'off'}"),
        ("weights", human_bytes(p.weights_bytes)),
        ("KV cache", human_bytes(p.kv_bytes)),
        ("compute buffers", human_bytes(p.compute_bytes)),
        ("runtime overhead", human_bytes(p.overhead_bytes)),
        ("total", human_bytes(p.total_bytes)),
        ("in device memory", f"{human_bytes(p.device_bytes)} of {human_bytes(p.budget_bytes)} available"),
    ]
    if p.host_bytes:
        rows.append(("in host RAM", human_bytes(p.host_bytes)))
    rows += [
        ("fits", "[green]yes[/]" if p.fits else "[bold red]NO[/]"),
        ("largest context that fits", f"{p.max_ctx} tokens" if p.max_ctx else "none"),
        ("GPU layers", f"{p.gpu_layers} of {p.n_layers}" if profile.has_gpu else "- (CPU)"),
        ("decode bound (full ctx)", f"{p.decode_tok_s_bound:.1f} tok/s"),
        ("decode bound (empty)", f"{p.decode_tok_s_bound_empty:.1f} tok/s at {profile.bandwidth_gbs:g} GB/s"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    for note in p.notes:
        out.print(f"note: {note}", markup=False)


def _print_all(plans: list[tuple[DeviceProfile, Plan]]) -> None:
    first = plans[0][1]
    r = first.request
    table = Table(title=f"{first.model}: n_ctx {r.n_ctx}, KV {r.kv_type}")
    table.add_column("device", no_wrap=True)
    for name in ("free", "needs", "fits", "max ctx", "GPU", "tok/s bound"):
        table.add_column(name, no_wrap=True, justify="right")
    for profile, p in plans:
        table.add_row(profile.id, human_bytes(p.budget_bytes), human_bytes(p.device_bytes),
                      "[green]yes[/]" if p.fits else "[red]no[/]", str(p.max_ctx),
                      f"{p.gpu_layers}/{p.n_layers}" if profile.has_gpu else "-", f"{p.decode_tok_s_bound:.1f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @cli_errors
    @settings_command("home", "catalog")
    def plan_cmd(
        model: Annotated[str, typer.Argument(help="Catalog id (downloaded or not), store name or .gguf path.")],
        device: Annotated[str | None, typer.Option(
            "--device", help="Device profile id (see --all-devices), `host-cpu`, or `auto` to detect.")] = None,
        ctx: Annotated[int, typer.Option("--ctx", min=1, help="Context length per sequence.")] = 4096,
        kv_type: Annotated[str, typer.Option("--kv-type", help=f"KV cache type: {', '.join(KV_TYPES)}.")] = "f16",
        flash_attn: Annotated[bool, typer.Option("--flash-attn/--no-flash-attn",
                                                 help="Flash attention (needed for a quantized KV cache).")] = True,
        batch: Annotated[int, typer.Option("--batch", min=1, help="Prompt tokens per forward pass.")] = 512,
        parallel: Annotated[int, typer.Option("--parallel", min=1, help="Parallel sequences.")] = 1,
        gpu_layers: Annotated[int | None, typer.Option(
            "--gpu-layers", help="Blocks to offload (-1 all); default: as many as fit.")] = None,
        all_devices: Annotated[bool, typer.Option("--all-devices", help="Plan on every device profile.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        *, settings: Settings) -> None:
        """Plan a model's memory on a device: weights, KV cache, compute buffers, fit, largest context, speed."""
        if kv_type not in KV_TYPES:
            raise InvalidRequestError(f"--kv-type must be one of {', '.join(KV_TYPES)}", param="kv_type")
        shape = load_shape(model, open_store(settings))
        req = PlanRequest(n_ctx=ctx, kv_type=kv_type, flash_attn=flash_attn, n_batch=batch, n_seq=parallel,
                          n_gpu_layers=gpu_layers)
        if all_devices:
            profiles = all_profiles(settings.home, host_bandwidth_gbs=settings.device.host_bandwidth_gbs)
            plans = [(p, plan(shape, p, req)) for p in profiles]
            if as_json:
                print_json([{**pl.to_dict(), "device_name": p.name} for p, pl in plans])
            else:
                _print_all(plans)
            return
        profile = _profile(settings, device)
        result = plan(shape, profile, req)
        if as_json:
            print_json({**result.to_dict(), "device_name": profile.name, "model_source": shape.source})
        else:
            _print_plan(result, profile)
