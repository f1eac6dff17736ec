"""`hearth doctor`: versions, the llama.cpp build's GPU support, the GPU, memory and the chosen device profile.

The check users need most: a GPU is present but llama-cpp-python was built CPU-only, so it silently never uses it.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..devices import detect_profile, jetson_model, nvml_gpus
from ..devices.detection import tegra_release
from ..devices.host import host_memory
from ..settings import Settings
from .common import cli_errors, err, human_bytes, out, print_json
from .options import settings_command

PACKAGES = ("hearth", "llama_cpp_python", "numpy", "gguf", "pydantic", "pydantic-settings", "psutil",
            "nvidia-ml-py", "typer")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def llama_build() -> dict[str, Any]:
    """What the installed llama.cpp can do."""
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001 - a broken native library must be reported, not crash the doctor
        return {"importable": False, "error": f"{type(exc).__name__}: {exc}", "gpu_offload": False,
                "system_info": None}
    info = llama_cpp.llama_print_system_info()
    return {"importable": True, "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
            "mmap": bool(llama_cpp.llama_supports_mmap()),
            "system_info": (info.decode(errors="replace") if isinstance(info, bytes) else str(info)).strip()}


def collect(settings: Settings) -> dict[str, Any]:
    """Everything `hearth doctor` reports, as data."""
    build = llama_build()
    gpus = nvml_gpus()
    jetson = jetson_model()
    total, available = host_memory()
    profile = detect_profile(settings)
    warnings = []
    has_gpu = bool(gpus) or jetson is not None
    if has_gpu and not build["gpu_offload"]:
        where = gpus[0].name if gpus else jetson
        warnings.append(f"GPU present ({where}) but llama-cpp-python is a CPU-only build: models will run on the "
                        "CPU only. Rebuild it with CUDA: scripts/install-cuda.sh")
    if not build["importable"]:
        warnings.append(f"llama_cpp cannot be imported: {build['error']}")
    if jetson is None and not gpus and _version("nvidia-ml-py") is None:
        warnings.append("nvidia-ml-py is not installed, so discrete NVIDIA GPUs cannot be detected "
                        "(pip install nvidia-ml-py: Hearth's `devices` extra)")
    return {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "llama_cpp": build,
        "gpus": [g.__dict__ for g in gpus],
        "jetson": {"model": jetson, "l4t": tegra_release()} if jetson else None,
        "memory": {"total_bytes": total, "available_bytes": available},
        "profile": {"id": profile.id, "name": profile.name, "kind": profile.kind,
                    "memory_bytes": profile.memory_bytes, "budget_bytes": profile.budget_bytes,
                    "bandwidth_gbs": profile.bandwidth_gbs, "cuda_arch": profile.cuda_arch,
                    "unified_memory": profile.unified_memory, "source": profile.source},
        "warnings": warnings,
    }


def _print(report: dict[str, Any]) -> None:
    def line(key: str, value: Any) -> None:
        out.print(f"{key:<22} {value}", markup=False, highlight=False)

    line("python", f"{report['python']} ({report['platform']})")
    for name, version in report["packages"].items():
        line(name, version or "not installed")
    build = report["llama_cpp"]
    line("llama.cpp GPU offload", "yes" if build["gpu_offload"] else "no (CPU-only build)")
    if build.get("system_info"):
        line("llama.cpp features", build["system_info"])
    for gpu in report["gpus"]:
        line("GPU", f"{gpu['name']} (sm_{gpu['compute_capability'].replace('.', '')}, "
                    f"{human_bytes(gpu['memory_total'])}, {human_bytes(gpu['memory_free'])} free, "
                    f"driver {gpu['driver']})")
    if not report["gpus"] and not report["jetson"]:
        line("GPU", "none found")
    if report["jetson"]:
        line("Jetson", f"{report['jetson']['model']} ({report['jetson']['l4t'] or 'L4T unknown'})")
    mem = report["memory"]
    line("RAM", f"{human_bytes(mem['total_bytes'])} total, {human_bytes(mem['available_bytes'])} available")
    p = report["profile"]
    line("device profile", f"{p['id']}: {p['name']}, {human_bytes(p['budget_bytes'])} for models, "
                           f"{p['bandwidth_gbs']:g} GB/s ({p['source']})")
    for warning in report["warnings"]:
        err.print(f"[bold red]WARNING:[/] {escape(warning)}", highlight=False)
    if not report["warnings"]:
        out.print("no problems found", markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("home", "device")
    def doctor(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
               *, settings: Settings) -> None:
        """Check the installation: versions, GPU support of the llama.cpp build, the GPU, memory, the device."""
        report = collect(settings)
        if as_json:
            print_json(report)
        else:
            _print(report)
