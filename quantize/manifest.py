"""The build manifest: what was built from what, with which tools, how big, how good, where it fits."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.planner.fit import device_fit

from . import CONVERTER_NAME, __version__


def tool_versions() -> dict[str, str]:
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "converter": f"{CONVERTER_NAME} {__version__}",
        "gguf_py": version("gguf"),
        "llama_cpp_python": version("llama_cpp_python"),
        "llama_cpp": _llama_cpp_build(),
    }


def _llama_cpp_build() -> str:
    # The vendored ggml library carries its version in its file name (libggml-base.so.X.Y.Z).
    import llama_cpp

    libdir = Path(llama_cpp.__file__).parent / "lib"
    versions = sorted(p.name.split(".so.", 1)[1] for p in libdir.glob("libggml-base.so.*.*"))
    return f"ggml {versions[-1]}" if versions else "unknown"


def tensor_histogram(path: Path) -> tuple[dict[str, dict[str, int]], int, int]:
    """({type: {tensors, elements, bytes}}, total elements, total tensor bytes) of a GGUF file."""
    from assistant.gguf_meta import read_gguf

    hist: dict[str, dict[str, int]] = {}
    elements = data_bytes = 0
    for t in read_gguf(path).tensors:
        row = hist.setdefault(t.type, {"tensors": 0, "elements": 0, "bytes": 0})
        row["tensors"] += 1
        row["elements"] += int(t.n_elements)
        row["bytes"] += int(t.n_bytes)
        elements += int(t.n_elements)
        data_bytes += int(t.n_bytes)
    return dict(sorted(hist.items())), elements, data_bytes


def build_manifest(
    *,
    gguf_path: Path,
    sha256: str,
    preset: str,
    ftype: int,
    source: dict[str, Any],
    imatrix: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    timings: dict[str, float],
    settings: dict[str, Any],
    tokenizer_check_tokens: int,
) -> dict[str, Any]:
    hist, n_params, data_bytes = tensor_histogram(gguf_path)
    return {
        "format": "hearth-quantize-manifest/1",
        "file": gguf_path.name,
        "type": preset,
        "ftype": ftype,
        "bytes": gguf_path.stat().st_size,
        "sha256": sha256,
        "n_params": n_params,
        "bits_per_weight": round(8 * data_bytes / max(n_params, 1), 4),
        "tensor_types": hist,
        "source": source,
        "tools": tool_versions(),
        "imatrix": imatrix,
        "eval": evaluation,
        "tokenizer_check": {"probe_tokens": tokenizer_check_tokens, "identical": True},
        "device_fit": device_fit(gguf_path),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "settings": settings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
