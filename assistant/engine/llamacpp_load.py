"""The one way Hearth loads a model into llama.cpp, and the one log hook llama.cpp writes to.

`init_backend()` installs the hook and initialises the backend once per process; `load_model()` loads a GGUF with
the parameters every caller needs (the engine, the quantizer's runner, its tokenizer check). The hook sends
llama.cpp's log to the `hearth.llamacpp` logger at DEBUG (so the CLI stays clean) and to any `capture_log()`
blocks open at the time, which keep the lines (the last error explains a failure) and may forward them to an
observer (the quantizer's progress). Capturing never swaps the hook, so it cannot undo the engine's quiet log.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import llama_cpp as L

from ..errors import EngineError

log = logging.getLogger("hearth.llamacpp")
_LOCK = threading.Lock()  # guards _CAPTURES; the hook takes it, so nothing that may log runs under it
_INIT = threading.Lock()
_CAPTURES: list[LogCapture] = []
_BACKEND = {"ready": False}


class LogCapture:
    """The lines llama.cpp logged inside a `capture_log()` block."""

    def __init__(self, on_line: Callable[[str], None] | None) -> None:
        self.lines: deque[str] = deque(maxlen=200)
        self.on_line = on_line
        self._partial = ""

    def feed(self, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.lines.append(line)
            if self.on_line:
                self.on_line(line)

    def last_errors(self, n: int = 3) -> str:
        """The last `n` lines that mention an error or a failure, joined (or the last line if none do)."""
        picked = [ln.strip() for ln in self.lines if "error" in ln.lower() or "failed" in ln.lower()]
        return "; ".join(picked[-n:]) or (self.lines[-1].strip() if self.lines else "")


@L.llama_log_callback
def _hook(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    try:
        decoded = text.decode("utf-8", errors="replace") if text else ""
        if decoded and log.isEnabledFor(logging.DEBUG):
            log.debug(decoded.rstrip())
        with _LOCK:
            captures = list(_CAPTURES)
        for capture in captures:
            capture.feed(decoded)
    except Exception:  # noqa: BLE001, S110 - an exception must never cross back into C
        pass


def init_backend() -> None:
    """Install the log hook and initialise llama.cpp's backend (once per process; later calls do nothing)."""
    with _INIT:
        if _BACKEND["ready"]:
            return
        L.llama_log_set(_hook, ctypes.c_void_p(0))
        L.llama_backend_init()
        _BACKEND["ready"] = True


@contextlib.contextmanager
def capture_log(on_line: Callable[[str], None] | None = None) -> Iterator[LogCapture]:
    """Keep what llama.cpp logs inside the block (and pass each whole line to `on_line`)."""
    init_backend()
    capture = LogCapture(on_line)
    with _LOCK:
        _CAPTURES.append(capture)
    try:
        yield capture
    finally:
        with _LOCK:
            _CAPTURES.remove(capture)


def model_params(n_gpu_layers: int = 0, vocab_only: bool = False) -> L.llama_model_params:
    """llama.cpp's model parameters as Hearth loads every model."""
    params = L.llama_model_default_params()
    params.n_gpu_layers = n_gpu_layers
    params.vocab_only = vocab_only
    # The "extra" CPU buffer types route matmuls to AMX kernels on CPUs that have AMX; in the llama.cpp that
    # llama-cpp-python 0.3.36 vendors they segfault on the first batch of a quantized model (seen on this
    # project's Xeon hosts). Q4 weights gain nothing from them on AVX-512, and GPUs do not use them.
    params.use_extra_bufts = False
    return params


def load_model(path: Path, n_gpu_layers: int = 0, vocab_only: bool = False) -> ctypes.c_void_p:
    """A `llama_model *` for the GGUF at `path` (free it with `llama_model_free`).

    Raises EngineError (with llama.cpp's last logged errors) when llama.cpp cannot load it: an unsupported
    architecture or a damaged file."""
    with capture_log() as captured:
        model = L.llama_model_load_from_file(str(path).encode(), model_params(n_gpu_layers, vocab_only))
    if not model:
        why = captured.last_errors()
        raise EngineError(f"llama.cpp could not load {path} (unsupported architecture or damaged file"
                          f"{': ' + why if why else ''})")
    return model
