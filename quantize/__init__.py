"""Hugging Face checkpoint -> validated INT4 GGUF: convert (streaming), calibrate (importance matrix),
quantize with
llama.cpp's own quantizer, evaluate against the unquantized build, write a manifest and register the result.

The entry point is `quantize.pipeline.build`; `hearth quantize` is the thin surface over it (the package imports
no surface).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("hearth")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

CONVERTER_NAME = "hearth-quantize"
