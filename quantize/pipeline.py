"""One build, end to end: resolve the source, convert, check the tokenizer, calibrate, quantize, evaluate,
write
the manifest, register in the store.

Everything is produced in a scratch directory inside the output directory and moved into place only when
complete
(the GGUF first, then its manifest); the store registration comes last. A failure at any step, a full disk
included,
leaves neither a partial file in the output directory nor a store record.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import QuantizeError
from assistant.progress import Progress
from assistant.settings import QuantizeSettings, Settings
from assistant.store import ModelStore, sha256_file

from . import CONVERTER_NAME, __version__
from .archs import resolve_arch
from .calibration import Texts, load_texts
from .convert import OUTTYPES, convert, read_config
from .evaluate import Reference, compare
from .imatrix import compute_imatrix, save_imatrix
from .manifest import build_manifest, write_manifest
from .quantizer import Preset, get_preset, quantize_gguf
from .source import ModelSource, checksum_inputs, resolve_source
from .tokcheck import check_tokenizer
from .weights import Checkpoint

_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build produced."""

    gguf: Path
    """The quantized model in the output directory."""
    manifest_path: Path
    """Its manifest."""
    manifest: dict[str, Any]
    """The manifest's content."""
    store_name: str | None
    """Name in the model store (None when not registered)."""


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "model"


@contextlib.contextmanager
def _step(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    except OSError as exc:
        # numpy reports a short write (the disk took fewer bytes than asked) without an errno.
        if exc.errno in _DISK_ERRNOS or (exc.errno is None and "requested and" in str(exc)):
            raise QuantizeError(
                f"{name}: not enough disk space ({exc.strerror}); free space or choose another "
                "--out directory"
            ) from None
        raise QuantizeError(f"{name}: {exc.strerror or exc}") from None
    finally:
        timings[name] = time.perf_counter() - start


def estimate_bytes(model_dir: Path, outtype: str, preset: Preset) -> tuple[int, int]:
    """(unquantized GGUF bytes, quantized GGUF bytes), estimated from the checkpoint's headers."""
    ckpt = Checkpoint(model_dir)
    try:
        elements = one_d = 0
        for ref in ckpt.tensors.values():
            n = 1
            for d in ref.shape:
                n *= d
            elements += n
            one_d += n if len(ref.shape) == 1 else 0
    finally:
        ckpt.close()
    width = 4 if outtype == "f32" else 2
    bits = float(preset.bits.lstrip("~"))
    return (elements - one_d) * width + one_d * 4, int(elements * bits / 8)


def _eval_scratch_bytes(model_dir: Path, qs: QuantizeSettings) -> int:
    """The F16 log-probabilities the evaluation keeps on disk (float16, half of each chunk scored)."""
    vocab = int(read_config(model_dir).get("vocab_size") or 0)
    chunks = qs.eval_bytes // 4 // qs.ctx + 1  # English prose and code: about 4 bytes per token
    return chunks * (qs.ctx // 2) * vocab * 2


def _preflight(out_dir: Path, need: int) -> None:
    free = shutil.disk_usage(out_dir).free
    if free < need:
        raise QuantizeError(
            f"not enough disk space in {out_dir}: the build needs about {need / 1e9:.2f} GB "
            f"(unquantized intermediate, output and evaluation scratch), {free / 1e9:.2f} GB free"
        )


def build(
    source: str,
    preset_name: str | None,
    out_dir: Path,
    settings: Settings,
    calibration: Path | None = None,
    store: ModelStore | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build `<name>.<TYPE>.gguf` and its manifest in `out_dir` from a Hugging Face model."""
    qs = settings.quantize
    preset = get_preset(preset_name or qs.default_preset)
    if preset.needs_imatrix and not qs.imatrix:
        raise QuantizeError(
            f"{preset.name} needs an importance matrix; drop --no-quantize-imatrix or choose another preset"
        )
    timings: dict[str, float] = {}
    with _step(timings, "download"):
        src = resolve_source(source, qs.revision)  # standard Hugging Face cache: earlier downloads reused
    resolve_arch(read_config(src.path))  # fail on an unsupported model before any heavy work
    out_dir = Path(out_dir).expanduser()
    with _step(timings, "prepare"):
        out_dir.mkdir(parents=True, exist_ok=True)
        f16_bytes, q_bytes = estimate_bytes(src.path, qs.outtype, preset)
        _preflight(out_dir, int((f16_bytes + q_bytes) * 1.05) + _eval_scratch_bytes(src.path, qs))
    with _step(timings, "checksum"):
        checksum_inputs(src, progress)
    name = safe_name(src.name)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".hearth-quantize-{name}-") as tmp:
        work = Path(tmp)
        built = _build_in(work, src, name, preset, qs, calibration, timings, progress)
        final, manifest_path = _publish(work, out_dir, built, qs.keep_f16)
    stored = None
    if qs.add_to_store and store is not None:
        with _step(timings, "register"):
            stored = store.register(
                f"{name}-{preset.name}".lower(),
                final,
                source="quantize",
                extra={
                    "manifest": str(manifest_path),
                    "type": preset.name,
                    "source": src.repo or str(src.path),
                },
                move=False,
            )
    return BuildResult(final, manifest_path, built["manifest"], stored.name if stored else None)


def _build_in(
    work: Path,
    src: ModelSource,
    name: str,
    preset: Preset,
    qs: QuantizeSettings,
    calibration: Path | None,
    timings: dict[str, float],
    progress: Progress | None,
) -> dict[str, Any]:
    threads = qs.threads or os.cpu_count() or 1
    f16 = work / f"{name}.{qs.outtype.upper()}.gguf"
    out = work / f"{name}.{preset.name}.gguf"
    with _step(timings, "convert"):
        converted = convert(src.path, f16, qs.outtype, name=name, progress=progress)
    with _step(timings, "tokenizer_check"):
        n_probe = check_tokenizer(f16, converted.vocab)
    texts = load_texts(calibration, qs.calibration_bytes, qs.eval_bytes)
    imatrix_info, means = None, None
    if qs.imatrix:
        with _step(timings, "imatrix"):
            imatrix_info, means = _calibrate(f16, texts, qs, threads, work / f"{name}.imatrix.npz", progress)
    with _step(timings, "quantize"):
        quantize_gguf(f16, out, preset, threads, means, progress, metadata=_provenance(imatrix_info))
    evaluation = None
    if qs.eval_bytes > 0:
        with (
            _step(timings, "evaluate"),
            Reference(f16, texts.evaluation, qs.ctx, threads, scratch_dir=work, progress=progress) as ref,
        ):
            evaluation = {**compare(ref, out, threads, progress).as_dict(), "text_source": texts.source}
    run_settings = {
        "outtype": qs.outtype,
        "ctx": qs.ctx,
        "threads": threads,
        "intermediate_type": OUTTYPES[qs.outtype][0].name,
    }
    with _step(timings, "manifest"):
        digest = sha256_file(out, progress, phase="sha256")
        manifest = build_manifest(
            gguf_path=out,
            sha256=digest,
            preset=preset.name,
            ftype=preset.ftype,
            source=src.as_dict(),
            imatrix=imatrix_info,
            evaluation=evaluation,
            timings=timings,
            tokenizer_check_tokens=n_probe,
            settings=run_settings,
        )
    return {"f16": f16, "gguf": out, "manifest": manifest, "imatrix": work / f"{name}.imatrix.npz"}


def _provenance(imatrix_info: dict[str, Any] | None) -> dict[str, str | int]:
    """GGUF header keys naming the tool and the importance matrix (the keys llama.cpp's own tools write)."""
    keys: dict[str, str | int] = {"general.quantized_by": f"{CONVERTER_NAME} {__version__}"}
    if imatrix_info:
        keys["quantize.imatrix.dataset"] = imatrix_info["source"]
        keys["quantize.imatrix.entries_count"] = imatrix_info["tensors"]
        keys["quantize.imatrix.chunks_count"] = imatrix_info["chunks"]
    return keys


def _calibrate(
    f16: Path, texts: Texts, qs: QuantizeSettings, threads: int, save_to: Path, progress: Progress | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The importance matrix (saved next to the build) and its description for the manifest."""
    stats = compute_imatrix(f16, texts.calibration, qs.ctx, threads, progress=progress)
    means = stats.means()
    save_imatrix(stats, save_to)
    info = {
        "source": texts.source,
        "bytes": len(texts.calibration.encode()),
        "tokens": stats.tokens,
        "chunks": stats.chunks,
        "n_ctx": qs.ctx,
        "tensors": len(means),
    }
    return info, means


def _publish(work: Path, out_dir: Path, built: dict[str, Any], keep_f16: bool) -> tuple[Path, Path]:
    gguf_path: Path = built["gguf"]
    final = out_dir / gguf_path.name
    manifest_path = out_dir / gguf_path.name.replace(".gguf", ".manifest.json")
    staged_manifest = work / manifest_path.name
    write_manifest(built["manifest"], staged_manifest)
    try:
        if manifest_path.exists():
            manifest_path.unlink()  # an old manifest must never describe the new file
        os.replace(gguf_path, final)
        os.replace(staged_manifest, manifest_path)
        if built["imatrix"].exists():
            os.replace(built["imatrix"], out_dir / built["imatrix"].name)
        if keep_f16:
            os.replace(built["f16"], out_dir / built["f16"].name)
    except OSError as exc:
        raise QuantizeError(f"cannot move the build into {out_dir}: {exc.strerror or exc}") from None
    return final, manifest_path
