"""Piper text-to-speech (VITS voices run by onnxruntime), and a cache of spoken sentences for any synthesizer.

Piper speaks a whole sentence per inference (~0.15-0.25 s of compute per second of speech on a 2-core CPU), so
a sentence's audio arrives in one piece; sentences are still streamed one by one as the reply is generated.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import ConfigError, SpeechToolError
from .tts import Synthesizer

log = logging.getLogger("hearth.voice.tts")


class PiperSynthesizer:
    """A Piper voice (`*.onnx` with its `*.onnx.json`); thread-safe (onnxruntime sessions are)."""

    def __init__(self, model: Path, *, variation: bool = True) -> None:
        """`variation=False` zeroes Piper's sampled noise (`noise_scale`, `noise_w_scale`), so one text always gives
        the same audio (tests and benchmarks); by default each utterance varies a little, as Piper intends."""
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError:
            raise SpeechToolError("Piper text-to-speech needs `piper-tts` (pip install 'hearth[voice]')") from None
        model = Path(model)
        if model.is_dir():
            found = sorted(model.glob("*.onnx"))
            if not found:
                raise ConfigError(f"no Piper voice (*.onnx) in {model}")
            model = found[0]
        if not model.is_file() or not Path(f"{model}.json").is_file():
            raise ConfigError(f"Piper voice {model} or its {model.name}.json is missing")
        try:
            voice = PiperVoice.load(model)  # the phonemizer's espeak-ng data ships inside piper-tts
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the Piper voice {model}: {exc}") from None
        self.voice, self.name, self.path = voice, model.name.removesuffix(".onnx"), model
        self._config = None if variation else SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        self.sample_rate = int(voice.config.sample_rate)

    def synthesize(self, text: str) -> Iterator[bytes]:
        text = " ".join(text.split())
        if not text:
            return
        try:
            for chunk in self.voice.synthesize(text, syn_config=self._config):
                yield chunk.audio_int16_bytes
        except (RuntimeError, ValueError) as exc:  # onnxruntime and the phonemizer raise these
            raise SpeechToolError(f"Piper failed on a sentence: {exc}") from None


class CachedSynthesizer:
    """Keeps the audio of the last `max_items` sentences spoken (Home Assistant caches TTS the same way): command
    replies repeat ("Turned on the kitchen light."), and a cached one starts playing at once."""

    def __init__(self, inner: Synthesizer, max_items: int = 256) -> None:
        self.inner, self.max_items = inner, max_items
        self.sample_rate = inner.sample_rate
        self.name: str | None = getattr(inner, "name", None)  # a Piper voice's name
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def synthesize(self, text: str) -> Iterator[bytes]:
        key = " ".join(text.split())
        with self._lock:
            pcm = self._items.get(key)
            if pcm is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
        if pcm is not None:
            yield pcm
            return
        parts = []
        for chunk in self.inner.synthesize(key):
            parts.append(chunk)
            yield chunk
        self._store(key, b"".join(parts))  # only reached when the sentence was spoken to its end

    def _store(self, key: str, pcm: bytes) -> None:
        if not pcm or self.max_items <= 0:
            return
        with self._lock:
            self._items[key] = pcm
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def contains(self, text: str) -> bool:
        with self._lock:
            return " ".join(text.split()) in self._items

    def warm(self, sentences: Iterable[str], stop: threading.Event | None = None) -> threading.Thread:
        """Speak `sentences` into the cache in a background thread (the replies to likely commands)."""

        def run() -> None:
            for s in sentences:
                if stop is not None and stop.is_set():
                    return
                if self.contains(s):
                    continue
                try:
                    self._store(" ".join(s.split()), b"".join(self.inner.synthesize(s)))
                except SpeechToolError as exc:
                    log.warning("could not pre-synthesise a reply: %s", exc)
                    return

        thread = threading.Thread(target=run, daemon=True, name="hearth-tts-warm")
        thread.start()
        return thread
