"""The one progress callback type of long jobs (downloads, hashing, conversion, quantization, evaluation)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int | None], None]
"""`progress(phase, done, total)`: `phase` names the step ("download", "verify", "convert", ...); `done` and
`total` count its units (bytes, tensors or chunks, the same unit for one phase); `total` is None when unknown."""
