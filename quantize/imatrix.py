"""Importance matrix, computed in-process: llama.cpp calls back for every graph node; for each matrix
multiplication
by a model weight we accumulate the squares of its input activations per input channel. The quantizer weights
its
rounding error by these values (channels that carry large activations get rounded more carefully).

ggml exposes no accessors for a node's operands, so the node is read through a ctypes mirror of `struct
ggml_tensor`
whose layout is verified against ggml's own accessors on first use.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np

from assistant.errors import QuantizeError

from .llama_run import Runner

_MAX_DIMS, _MAX_SRC, _MAX_NAME, _MAX_OP_PARAMS = 4, 10, 64, 64


class GgmlTensor(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * _MAX_DIMS),
        ("nb", ctypes.c_size_t * _MAX_DIMS),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * (_MAX_OP_PARAMS // 4)),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * _MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * _MAX_NAME),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


def _ggml() -> ctypes.CDLL:
    libdir = Path(llama_cpp.__file__).parent / "lib"
    candidates = sorted(glob.glob(str(libdir / "libggml-base.*"))) or ["libggml-base.so"]
    lib = ctypes.CDLL(candidates[0])
    lib.ggml_op_name.restype, lib.ggml_op_name.argtypes = ctypes.c_char_p, [ctypes.c_int]
    lib.ggml_get_name.restype, lib.ggml_get_name.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    lib.ggml_nbytes.restype, lib.ggml_nbytes.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    lib.ggml_backend_buffer_is_host.restype = ctypes.c_bool
    lib.ggml_backend_buffer_is_host.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_tensor_get.restype = None
    lib.ggml_backend_tensor_get.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
    ]
    return lib


def _op_id(lib: ctypes.CDLL, name: bytes) -> int:
    for i in range(64):  # MUL_MAT sits in the first few dozen ops of every ggml release
        if lib.ggml_op_name(i) == name:
            return i
    raise QuantizeError("this llama.cpp build has no MUL_MAT operation")


@dataclass
class ImatrixStats:
    """Accumulated squared activations per weight."""

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    """Per weight name: sum over tokens of x_i^2 for each input channel i."""
    counts: dict[str, int] = field(default_factory=dict)
    """Per weight name: activation rows accumulated."""
    tokens: int = 0
    """Calibration tokens evaluated."""
    chunks: int = 0
    """Chunks evaluated."""

    def means(self) -> dict[str, np.ndarray]:
        """Mean squared activation per input channel, for every weight that saw activations."""
        return {
            k: (v / self.counts[k]).astype(np.float32)
            for k, v in self.sums.items()
            if self.counts[k] > 0 and np.any(v > 0)
        }


class Collector:
    """The eval callback; `callback` is the ctypes function to put in llama_context_params.cb_eval."""

    def __init__(self) -> None:
        self.lib = _ggml()
        self.mul_mat = _op_id(self.lib, b"MUL_MAT")
        self.stats = ImatrixStats()
        self.error: BaseException | None = None
        self._verified = False
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def _on_node(self, t_ptr: int, ask: bool, user_data: int) -> bool:
        try:
            t = GgmlTensor.from_address(t_ptr)
            if not self._verified:
                self._verify(t_ptr, t)
            if t.op != self.mul_mat or not t.src[0] or not t.src[1]:
                return not ask  # when asked: not interested; after compute: continue
            w = GgmlTensor.from_address(t.src[0])
            name = w.name.decode("utf-8", "replace")
            if not (name.startswith("blk.") and name.endswith(".weight")):
                return not ask
            if ask:
                return True
            self._accumulate(name, GgmlTensor.from_address(t.src[1]), t.src[1])
            return True
        except BaseException as exc:  # noqa: BLE001 - never raise into C; the first error is reported after decode
            self.error = self.error or exc
            return False

    def _verify(self, ptr: int, t: GgmlTensor) -> None:
        if self.lib.ggml_get_name(ptr) != t.name or self.lib.ggml_nbytes(ptr) == 0:
            raise QuantizeError(
                "llama.cpp's tensor layout differs from the one Hearth reads; the importance "
                "matrix cannot be computed with this build (use --no-quantize-imatrix)"
            )
        self._verified = True

    def _accumulate(self, name: str, x: GgmlTensor, x_ptr: int) -> None:
        if x.type != 0:  # GGML_TYPE_F32: activations reach weight matmuls as F32 on every CPU/GPU path we use
            return
        n_in = int(x.ne[0])
        rows = int(x.ne[1] * x.ne[2] * x.ne[3])
        if rows == 0:
            return
        if (
            self.lib.ggml_backend_buffer_is_host(x.buffer)
            and x.nb[1] == n_in * 4
            and x.nb[2] == x.nb[1] * x.ne[1]
            and x.nb[3] == x.nb[2] * x.ne[2]
        ):
            arr = np.ctypeslib.as_array(
                ctypes.cast(x.data, ctypes.POINTER(ctypes.c_float)), shape=(rows, n_in)
            )
        else:
            arr = np.empty((rows, n_in), dtype=np.float32)
            self.lib.ggml_backend_tensor_get(x_ptr, arr.ctypes.data, 0, arr.nbytes)
        sq = np.einsum("ij,ij->j", arr, arr, dtype=np.float64)
        if name in self.stats.sums:
            self.stats.sums[name] += sq
            self.stats.counts[name] += rows
        else:
            self.stats.sums[name] = sq
            self.stats.counts[name] = rows


def compute_imatrix(
    f16_path: Path,
    text: str,
    n_ctx: int,
    threads: int,
    max_chunks: int | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ImatrixStats:
    """Run the calibration text through the unquantized model and collect the importance matrix."""
    collector = Collector()
    with Runner(f16_path, n_ctx, threads, cb_eval=collector.callback) as runner:
        chunks = runner.chunks(runner.tokenize(text), max_chunks)
        if not chunks:
            raise QuantizeError(f"the calibration text is shorter than one {n_ctx}-token chunk")
        for i, chunk in enumerate(chunks):
            # All positions must be outputs: llama.cpp prunes the last layer to the output rows, and an empty
            # row set would leave that layer's matrix at zero, which wrecks its quantization.
            runner.decode(chunk, logits_from=0, keep=False)
            if collector.error is not None:
                raise (
                    collector.error
                    if isinstance(collector.error, QuantizeError)
                    else QuantizeError(f"importance matrix collection failed: {collector.error}")
                )
            collector.stats.tokens += len(chunk)
            collector.stats.chunks += 1
            if progress:
                progress("imatrix", i + 1, len(chunks))
    if not collector.stats.sums:
        raise QuantizeError("no weight matrix activations were observed; the importance matrix is empty")
    return collector.stats


class ImatrixArray:
    """The NULL-terminated `llama_model_imatrix_data` array the quantizer takes; keeps its buffers alive."""

    def __init__(self, means: dict[str, np.ndarray]) -> None:
        self._keep = [np.ascontiguousarray(v, dtype=np.float32) for v in means.values()]
        self._names = [k.encode() for k in means]
        self.array = (llama_cpp.llama_model_imatrix_data * (len(means) + 1))()
        for i, (name, values) in enumerate(zip(self._names, self._keep)):
            self.array[i].name = name
            self.array[i].data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            self.array[i].size = values.size
        self.array[len(means)].name = None

    def pointer(self) -> ctypes._Pointer:
        return ctypes.cast(self.array, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))


def save_imatrix(stats: ImatrixStats, path: Path) -> None:
    """Keep the matrix next to the build (npz, one array per weight): re-quantizing can reuse it."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **{k.replace(".", "__"): v for k, v in stats.means().items()})
    os.replace(tmp, path)
