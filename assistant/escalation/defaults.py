"""Where the shipped calibration lives, readable without numpy (settings use it for their defaults)."""

from __future__ import annotations

import json
from pathlib import Path

CALIBRATION_PATH = Path(__file__).resolve().parent / "calibration.json"
"""The combined score's weights and threshold, fit by `hearth calibrate` on the dev set for the default model."""


def shipped_threshold() -> float:
    """The threshold of the shipped calibration (0.5 if the file is missing, e.g. in a broken install)."""
    try:
        return float(json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))["threshold"])
    except (OSError, ValueError, KeyError):
        return 0.5
