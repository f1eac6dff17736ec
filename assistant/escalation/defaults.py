"""Where the shipped calibrations live, readable without numpy.

Two fits of the same signals: `stream` scores the first `decision_window` tokens of a streamed answer,
`complete` scores the first `complete_window` tokens of a non-streamed one (more evidence, so a better
score). A third, `tools`, scores the tokens of a tool call (its own fit: `tool_fit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Mode = Literal["stream", "complete", "tools"]

CALIBRATION_DIR = Path(__file__).resolve().parent / "data"
"""Shipped calibrations, fit by `hearth calibrate --out` on the dev set for the default model."""
FILES: dict[str, str] = {"stream": "calibration_stream.json", "complete": "calibration_complete.json"}
"""File name of each answer mode's calibration inside a calibration directory (what `hearth calibrate` writes)."""
TOOLS_FILE = "calibration_tools.json"
"""File name of the tool-call calibration (`tool_fit --out`; one ships for the default model)."""


def calibration_file(mode: Mode, directory: Path | None = None) -> Path:
    """`mode`'s calibration in `directory` (None: the shipped ones). `hearth calibrate --out` writes the answer
    modes only, so a directory without a tool-call calibration gets the shipped one for `tools`."""
    if mode != "tools":
        return (directory or CALIBRATION_DIR) / FILES[mode]
    path = (directory or CALIBRATION_DIR) / TOOLS_FILE
    return CALIBRATION_DIR / TOOLS_FILE if directory is not None and not path.exists() else path
