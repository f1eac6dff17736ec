"""Streaming reader for safetensors checkpoints: one tensor at a time from a memory map.

The format is small enough to read directly (8-byte little-endian header length, a JSON header of name ->
dtype,
shape, byte range, then the data), which lets us check every byte range against the file size before trusting
it
and release each tensor's pages once it has been converted, so peak memory stays at a few tensors, not a
model.
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelFormatError

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_MAX_HEADER = 100 << 20


@dataclass(frozen=True, slots=True)
class TensorRef:
    """Where one tensor lives in a checkpoint."""

    name: str
    """Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`."""
    dtype: str
    """safetensors dtype string (`BF16`, `F16`, `F32`, ...)."""
    shape: tuple[int, ...]
    """Shape in PyTorch order (rows first)."""
    file: Path
    """The shard holding it."""
    start: int
    """Absolute byte offset of the data in the file."""
    end: int
    """Absolute end offset (exclusive)."""


def _read_header(path: Path) -> list[TensorRef]:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ModelFormatError(f"{path.name}: not a safetensors file (truncated header)")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise ModelFormatError(
                    f"{path.name}: not a safetensors file (header length {n} is impossible)"
                )
            header = json.loads(fh.read(n))
    except (ValueError, UnicodeDecodeError):
        raise ModelFormatError(f"{path.name}: corrupt safetensors header (not valid JSON)") from None
    except OSError as exc:
        raise ModelFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path.name}: corrupt safetensors header")
    refs = []
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        refs.append(_ref(path, name, info, base, size))
    return refs


def _ref(path: Path, name: str, info: object, base: int, size: int) -> TensorRef:
    try:
        dtype, shape, (lo, hi) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise ModelFormatError(f"{path.name}: corrupt entry for tensor {name}") from None
    if dtype not in _DTYPES:
        raise ModelFormatError(f"{path.name}: tensor {name} has unsupported dtype {dtype}")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
    if hi - lo != expected or lo < 0 or base + hi > size:
        raise ModelFormatError(
            f"{path.name}: tensor {name} points outside the file or has the wrong size "
            "(truncated or corrupt download?)"
        )
    return TensorRef(name, dtype, shape, path, base + lo, base + hi)


def checkpoint_files(model_dir: Path) -> list[Path]:
    """The safetensors shards of a model directory (from the index when there is one)."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError):
            raise ModelFormatError(f"{index}: corrupt safetensors index") from None
        files = [model_dir / n for n in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelFormatError(
                f"{model_dir}: shards listed in the index are missing: {', '.join(missing)}"
            )
        return files
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        has_bin = any(model_dir.glob("*.bin")) or any(model_dir.glob("*.pth"))
        hint = (
            (
                " (only PyTorch .bin/.pth weights found: re-save the model with safetensors, e.g. "
                "`model.save_pretrained(dir, safe_serialization=True)`)"
            )
            if has_bin
            else ""
        )
        raise ModelFormatError(f"{model_dir}: no *.safetensors weights{hint}")
    return files


class Checkpoint:
    """All tensors of a (possibly sharded) safetensors checkpoint, read lazily."""

    def __init__(self, model_dir: Path) -> None:
        self.files = checkpoint_files(model_dir)
        self.tensors: dict[str, TensorRef] = {}
        for f in self.files:
            for ref in _read_header(f):
                if ref.name in self.tensors:
                    raise ModelFormatError(f"tensor {ref.name} appears in two shards")
                self.tensors[ref.name] = ref
        self._maps: dict[Path, mmap.mmap] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def names(self) -> Iterator[str]:
        return iter(self.tensors)

    def read_f32(self, name: str) -> np.ndarray:
        """The tensor as a new float32 array (a copy; the mapped pages are released afterwards)."""
        ref = self.tensors[name]
        mm = self._map(ref.file)
        raw = np.frombuffer(
            mm,
            dtype=_DTYPES[ref.dtype],
            count=(ref.end - ref.start) // np.dtype(_DTYPES[ref.dtype]).itemsize,
            offset=ref.start,
        )
        if ref.dtype == "BF16":
            out = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out = raw.astype(np.float32)
        del raw
        self._release(mm, ref)
        return out.reshape(ref.shape)

    def _map(self, path: Path) -> mmap.mmap:
        if path not in self._maps:
            with path.open("rb") as fh:
                self._maps[path] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return self._maps[path]

    @staticmethod
    def _release(mm: mmap.mmap, ref: TensorRef) -> None:
        # Touched pages of a file mapping count toward RSS until dropped; dropping them keeps peak memory
        # bounded
        # by the tensor being converted instead of growing to the checkpoint's size.
        page = mmap.PAGESIZE
        lo = ref.start - ref.start % page
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, ref.end - lo)
        except (AttributeError, OSError, ValueError):
            pass

    def close(self) -> None:
        for mm in self._maps.values():
            try:
                mm.close()
            except BufferError:  # a caller still holds a view; the map closes when it is collected
                pass
        self._maps.clear()
