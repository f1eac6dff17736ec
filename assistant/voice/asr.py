"""Speech-to-text. Commands are decoded against the home's grammar; anything else falls back to open vocabulary.

`SpeechRecognizer` is the one interface; `PocketsphinxRecognizer` is the engine that runs everywhere (its en-us
model ships in the wheel). A stronger engine for real devices plugs in behind the same three methods.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import ConfigError, SpeechToolError

_LOG_BASE = math.log(1.0001)
EXTRA_PRONUNCIATIONS = (
    # The dictionary has only AO F; General American (and espeak-ng's en-us) says /ɑf/, and without this variant
    # an utterance-final "off" is heard as "on" (AA N / AO N).
    ("off(2)", "AA F"),
)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said."""

    text: str
    """Recognised words, lowercase; empty when nothing was recognised."""
    source: Literal["grammar", "open", "none"]
    """Which decoder produced it: the home grammar, the open-vocabulary model, or neither."""
    decode_s: float
    """Seconds `finish` took (the part of recognition that happens after the end of speech)."""
    grammar_margin: float | None = None
    """Per-frame score by which the grammar path beat open-vocabulary decoding (None when not compared)."""


class SpeechRecognizer(Protocol):
    """Streaming speech-to-text for one utterance at a time (not thread-safe: one utterance in flight)."""

    def start(self) -> None:
        """Begin an utterance."""
        ...

    def feed(self, pcm: bytes) -> None:
        """Add 16 kHz 16-bit mono PCM as it arrives (decoding proceeds while the user speaks)."""
        ...

    def finish(self) -> Transcript:
        """End the utterance and return its transcript."""
        ...


def transcribe(recognizer: SpeechRecognizer, pcm: bytes) -> Transcript:
    """Recognise one whole utterance."""
    recognizer.start()
    recognizer.feed(pcm)
    return recognizer.finish()


class PocketsphinxRecognizer:
    """Two pocketsphinx decoders fed in parallel: a JSGF grammar search (accurate for commands) and, when enabled,
    the open-vocabulary n-gram model as the fallback.

    Speech outside the grammar usually finds no complete grammar path; when it does, the path is forced ("tell me
    a joke" -> "turn on the light"), and its score is then no better than the open model's. A grammar result is
    kept only if it beats the open model by `reject_margin` per 10 ms frame (measured on espeak-ng speech, 24
    commands and 23 other utterances: commands +8.1 or more, forced fits +2.6 or less).
    """

    def __init__(self, jsgf: str, vocabulary: set[str] = frozenset(), open_fallback: bool = True,
                 reject_margin: float = 5.0) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise SpeechToolError("speech-to-text needs `pocketsphinx` (pip install 'hearth[voice]')") from None
        # The grammar search must not use bestpath: its lattice pass rescores with the n-gram model and
        # truncates grammar paths ("turn off the bedroom lamp" -> "turn off the bedroom").
        # Wider beams than pocketsphinx's defaults: with them correct grammar paths were pruned on espeak-ng speech
        # ("turn off the living room lamp" found no path at all); the grammar is small, so the cost is modest.
        self._grammar = Decoder(loglevel="FATAL", lm=None, bestpath=False, beam=1e-80, wbeam=1e-60, pbeam=1e-80)
        missing = sorted(w for w in vocabulary if self._grammar.lookup_word(w) is None)
        if missing:
            raise ConfigError(f"words not in the speech dictionary: {missing}; rename those rooms/devices or give "
                              "them aliases made of common English words")
        for word, phones in EXTRA_PRONUNCIATIONS:
            self._grammar.add_word(word, phones, True)
        try:
            self._grammar.add_jsgf_string("home", jsgf)
        except ValueError as exc:
            raise ConfigError(f"the home grammar does not compile: {exc}") from None
        self._grammar.activate_search("home")
        self._open = Decoder(loglevel="FATAL") if open_fallback else None
        self.reject_margin = reject_margin
        self._active = False
        self._open_pending = False  # the open decoder's utterance is left open after a grammar result

    def _decoders(self):
        return [d for d in (self._grammar, self._open) if d is not None]

    def start(self) -> None:
        for d in self._decoders():
            if self._active or (d is self._open and self._open_pending):
                d.end_utt()
            d.start_utt()
        self._active, self._open_pending = True, False

    def feed(self, pcm: bytes) -> None:
        if not self._active:
            raise SpeechToolError("feed() before start()")
        if pcm:
            for d in self._decoders():
                d.process_raw(pcm, no_search=False, full_utt=False)

    def finish(self) -> Transcript:
        if not self._active:
            raise SpeechToolError("finish() before start()")
        t0 = time.perf_counter()
        self._active = False
        self._grammar.end_utt()
        g = self._grammar.hyp()
        g_text = g.hypstr.strip() if g is not None else ""
        if self._open is None:
            return Transcript(g_text, "grammar" if g_text else "none", time.perf_counter() - t0)
        margin = None
        if g_text:
            # The open model's partial hypothesis costs nothing; its final pass (~0.1-0.3 s of lattice search) is
            # only worth waiting for when its text is needed.
            partial = self._open.hyp()
            o_score = _log_score(partial.score) if partial is not None and partial.hypstr else -1e9
            margin = (_log_score(g.score) - o_score) / max(1, self._grammar.n_frames())
            if margin >= self.reject_margin:
                self._open_pending = True
                return Transcript(g_text, "grammar", time.perf_counter() - t0, margin)
        self._open.end_utt()
        o = self._open.hyp()
        o_text = o.hypstr.strip() if o is not None else ""
        return Transcript(o_text, "open" if o_text else "none", time.perf_counter() - t0, margin)


def _log_score(score: float) -> float:
    """pocketsphinx reports path scores as probabilities; back to its integer log domain (base 1.0001)."""
    return math.log(max(score, 1e-300)) / _LOG_BASE
