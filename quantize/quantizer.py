"""INT4 (and comparison) builds through llama.cpp's own quantizer, with honest preset names and an optional
importance matrix."""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from assistant.engine.llamacpp_load import capture_log
from assistant.errors import InvalidRequestError, QuantizeError

from .imatrix import ImatrixArray


@dataclass(frozen=True, slots=True)
class Preset:
    """A quantization preset."""

    name: str
    """llama.cpp's name for it (used in file names)."""
    ftype: int
    """llama_ftype id."""
    bits: str
    """Approximate bits per weight on a 7B Llama (llama.cpp's figures), for the CLI's help."""
    needs_imatrix: bool
    """Refuse to build without an importance matrix (quality collapses without one)."""
    description: str
    """One line for humans."""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "Q4_K_M", 15, "~4.8", False, "4-bit k-quant, attention-v/ffn-down half in 6-bit: the default INT4"
        ),
        Preset("Q4_K_S", 14, "~4.6", False, "4-bit k-quant everywhere: a little smaller than Q4_K_M"),
        Preset(
            "Q4_0",
            2,
            "~4.5",
            False,
            "legacy 4-bit blocks of 32 with one scale: fastest kernels, lowest quality",
        ),
        Preset(
            "IQ4_XS", 30, "~4.25", True, "4-bit non-linear grid, needs an importance matrix: smallest INT4"
        ),
        Preset("Q5_K_M", 17, "~5.7", False, "5-bit k-quant, for comparison"),
        Preset("Q8_0", 7, "~8.5", False, "8-bit, nearly lossless, for comparison"),
    )
}


def get_preset(name: str) -> Preset:
    key = name.upper()
    if key not in PRESETS:
        raise InvalidRequestError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}", param="preset"
        )
    return PRESETS[key]


_PROGRESS = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def _kv_overrides(metadata: dict[str, str | int]) -> ctypes.Array:
    """An array of llama.cpp KV overrides ended by an empty key (strings are cut to the 127-byte field)."""
    arr = (llama_cpp.llama_model_kv_override * (len(metadata) + 1))()
    for slot, (key, value) in zip(arr, metadata.items()):
        slot.key = key.encode()[:127]
        if isinstance(value, int):
            slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
            slot.value.val_i64 = value
        else:
            slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
            slot.value.val_str = str(value).encode()[:127]
    arr[len(metadata)].key = b""
    return arr


def quantize_gguf(
    src: Path,
    dst: Path,
    preset: Preset,
    threads: int,
    imatrix: dict | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    require_imatrix: bool = True,
    metadata: dict[str, str | int] | None = None,
) -> None:
    """Quantize `src` (F16/BF16/F32 GGUF) into `dst`; raises QuantizeError with llama.cpp's reason on failure.

    `metadata` adds string/integer keys to the output's GGUF header (provenance of the importance matrix).
    `require_imatrix=False` lets a benchmark measure what a preset loses without its matrix."""
    if preset.needs_imatrix and not imatrix and require_imatrix:
        raise InvalidRequestError(
            f"{preset.name} needs an importance matrix; enable it (--quantize-imatrix) or "
            "choose another preset",
            param="preset",
        )
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = preset.ftype
    holder = ImatrixArray(imatrix) if imatrix else None
    if holder is not None:
        params.imatrix = holder.pointer()
    overrides = _kv_overrides(metadata or {})
    params.kv_overrides = ctypes.cast(overrides, ctypes.POINTER(llama_cpp.llama_model_kv_override))

    def on_line(line: str) -> None:
        m = _PROGRESS.search(line)
        if m and progress:
            progress("quantize", int(m.group(1)), int(m.group(2)))

    result: dict[str, int] = {}
    with capture_log(on_line) as log:
        # The C call holds no Python locks; a thread keeps the log callback (and the progress bar) responsive.
        worker = threading.Thread(
            target=lambda: result.update(
                rc=llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
            ),
            daemon=True,
        )
        worker.start()
        while worker.is_alive():  # short joins keep Ctrl-C deliverable
            worker.join(0.25)
    if result.get("rc", 1) != 0:
        raise QuantizeError(
            f"llama.cpp could not quantize to {preset.name}: {log.last_errors() or 'unknown error'}"
        )
