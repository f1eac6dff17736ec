"""Wake-word detection: is one of the wake phrases in this audio, and when?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import SpeechToolError
from .audio import RATE, WIDTH

_PRIME_SAMPLES = 24 * 1280
"""Silence fed after a reset: more than a model's window (16 embeddings of 80 ms) plus the embedding's own span."""


@dataclass(frozen=True, slots=True)
class WakeDetection:
    """One wake word heard."""

    name: str
    """Model name, e.g. `hey_jarvis`."""
    probability: float
    """The detector's score when it crossed the threshold."""
    time_s: float
    """Position in the audio stream (seconds since the detector started or was reset) of the detection."""


class WakeWordDetector(Protocol):
    """Streams audio in, reports wake words."""

    names: tuple[str, ...]
    """The wake words it listens for."""

    def process(self, pcm: bytes) -> WakeDetection | None:
        """Feed 16 kHz 16-bit mono PCM (any length); return a detection that happened in it, if any."""
        ...

    def reset(self) -> None:
        """Start a new stream: forget past audio and restart the clock."""
        ...


class OpenWakeWordDetector:
    """openWakeWord models through `pyopen-wakeword` (TFLite); one shared feature extractor for all models."""

    def __init__(self, names: Sequence[str], threshold: float = 0.5, refractory_s: float = 2.0) -> None:
        try:
            from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
        except ImportError:
            raise SpeechToolError("wake-word detection needs `pyopen-wakeword` (pip install 'hearth[voice]')") from None
        known = {m.value: m for m in Model}
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise SpeechToolError(f"unknown wake word(s) {unknown or '(none given)'}; built-in: {sorted(known)}")
        try:
            self._features = OpenWakeWordFeatures.from_builtin()
            self._models = {n: OpenWakeWord.from_builtin(known[n]) for n in names}
        except OSError as exc:
            raise SpeechToolError(f"cannot load the wake-word models: {exc}") from None
        self.names = tuple(names)
        self.threshold = threshold
        self.refractory_s = refractory_s
        self._samples = 0
        self._last: dict[str, float] = {}

    def process(self, pcm: bytes) -> WakeDetection | None:
        self._samples += len(pcm) // WIDTH
        now = self._samples / RATE
        best: WakeDetection | None = None
        for features in self._features.process_streaming(pcm):
            for name, model in self._models.items():
                for p in model.process_streaming(features):
                    if p < self.threshold or now - self._last.get(name, -1e9) < self.refractory_s:
                        continue
                    if best is None or p > best.probability:
                        best = WakeDetection(name=name, probability=float(p), time_s=now)
        if best is not None:
            self._last[best.name] = now
        return best

    def reset(self) -> None:
        # Resetting the shared feature extractor would make it re-process 8 s of padding (~0.5 s of CPU). Instead
        # the models are cleared and primed with silence: a model scores only once its window is full, and a
        # window of silence lets a wake word at the very start of the next stream be heard.
        for model in self._models.values():
            model.reset()
        for features in self._features.process_streaming(bytes(_PRIME_SAMPLES * WIDTH)):
            for model in self._models.values():
                for _ in model.process_streaming(features):
                    pass
        self._samples = 0
        self._last.clear()

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._features.close()
