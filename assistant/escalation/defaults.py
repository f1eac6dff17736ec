"""Where the shipped calibrations live, readable without numpy.

Two fits of the same signals: `stream` scores the first `decision_window` tokens of a streamed answer,
`complete` scores the first `complete_window` tokens of a non-streamed one (more evidence, so a better
score)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Mode = Literal["stream", "complete"]

CALIBRATION_DIR = Path(__file__).resolve().parent / "data"
"""Shipped calibrations, fit by `hearth calibrate --out` on the dev set for the default model."""
FILES: dict[str, str] = {"stream": "calibration_stream.json", "complete": "calibration_complete.json"}
"""File name of each mode's calibration inside a calibration directory."""


def calibration_file(mode: Mode, directory: Path | None = None) -> Path:
    return (directory or CALIBRATION_DIR) / FILES[mode]
