"""Speech-to-text. Commands are decoded against the home's grammar; anything else falls back to open vocabulary.

`SpeechRecognizer` is the one interface; `PocketsphinxRecognizer` decodes the home grammar (its en-us model ships in
the wheel), `whisper_asr.WhisperRecognizer` open speech, and `HybridRecognizer` puts them together: the grammar
first, with its rejection test, and Whisper for whatever it rejects.

Recognisers may also implement `Endpointing`: the listener then tells them about pauses, and they may end an
utterance early when what was heard is already a complete command.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
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
    source: Literal["grammar", "open", "whisper", "none"]
    """Which decoder produced it: the home grammar, pocketsphinx's open-vocabulary model, Whisper, or none."""
    decode_s: float
    """Seconds `finish` took (the part of recognition that happens after the end of speech)."""
    grammar_margin: float | None = None
    """Per-frame score by which the grammar path beat open-vocabulary decoding (None when not compared)."""
    alternative: str | None = None
    """Another decoder's reading of the same audio that is a different command (the grammar's, when Whisper heard
    another one): the utterance could not be placed, so it must be asked about, not carried out."""


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


class Endpointing(Protocol):
    """Optional extension of a recogniser: pauses reported by the listener."""

    def pause(self, speech_bytes: int, silence_s: float) -> bool:
        """Called on every silent frame after speech: `speech_bytes` of the utterance end with its last speech
        frame, followed by `silence_s` of silence. True when the utterance is certainly complete (the listener may
        then end it before its usual trailing silence)."""
        ...

    def mark_end(self, speech_bytes: int) -> None:
        """The utterance is over; its speech ends after `speech_bytes` (the rest is trailing silence)."""
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
                 reject_margin: float = 5.0, complete: Callable[[str], bool] | None = None,
                 command_silence_s: float = 0.2) -> None:
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
        self.complete, self.command_silence_s = complete, command_silence_s
        self._checked: tuple[int, bool] | None = None  # (speech_bytes, verdict) of the last pause check
        self.last_margin: float | None = None
        self._active = False
        self._open_pending = False  # the open decoder's utterance is left open after a grammar result

    def _decoders(self):
        return [d for d in (self._grammar, self._open) if d is not None]

    def start(self) -> None:
        for d in self._decoders():
            if self._active or (d is self._open and self._open_pending):
                d.end_utt()
            d.start_utt()
        self._active, self._open_pending, self._checked = True, False, None

    def feed(self, pcm: bytes) -> None:
        if not self._active:
            raise SpeechToolError("feed() before start()")
        if pcm:
            for d in self._decoders():
                d.process_raw(pcm, no_search=False, full_utt=False)

    def pause(self, speech_bytes: int, silence_s: float) -> bool:
        """A complete command with a clear grammar margin ends the utterance after `command_silence_s`."""
        if self.complete is None or silence_s < self.command_silence_s or not self._active:
            return False
        if self._checked is None or self._checked[0] != speech_bytes:
            text, margin = self._grammar_so_far()
            ok = bool(text) and (self._open is None or (margin or 0.0) >= self.reject_margin) and self.complete(text)
            self._checked = (speech_bytes, ok)
        return self._checked[1]

    def mark_end(self, speech_bytes: int) -> None:
        pass

    def _grammar_so_far(self) -> tuple[str, float | None]:
        """The grammar's best path so far and its margin over the open model's partial hypothesis (None without
        the open model or without a grammar path). The open model's partial costs nothing; its final pass (~0.1-0.3
        s of lattice search) is only worth waiting for when its text is needed."""
        g = self._grammar.hyp()
        g_text = g.hypstr.strip() if g is not None else ""
        if not g_text or self._open is None:
            return g_text, None
        partial = self._open.hyp()
        o_score = _log_score(partial.score) if partial is not None and partial.hypstr else -1e9
        return g_text, (_log_score(g.score) - o_score) / max(1, self._grammar.n_frames())

    def finish_grammar(self) -> Transcript | None:
        """End the utterance; its grammar transcript if it passes the rejection test, else None (the open
        decoder is then left unfinished: whoever decodes the open speech is someone else)."""
        if not self._active:
            raise SpeechToolError("finish() before start()")
        t0 = time.perf_counter()
        self._active = False
        self._grammar.end_utt()
        g_text, margin = self._grammar_so_far()
        self._open_pending, self.last_margin = self._open is not None, margin
        if g_text and (self._open is None or (margin is not None and margin >= self.reject_margin)):
            return Transcript(g_text, "grammar", time.perf_counter() - t0, margin)
        return None

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        accepted = self.finish_grammar()
        if accepted is not None or self._open is None:
            return accepted or Transcript("", "none", time.perf_counter() - t0)
        self._open_pending = False
        self._open.end_utt()
        o = self._open.hyp()
        o_text = o.hypstr.strip() if o is not None else ""
        return Transcript(o_text, "open" if o_text else "none", time.perf_counter() - t0, self.last_margin)


def _log_score(score: float) -> float:
    """pocketsphinx reports path scores as probabilities; back to its integer log domain (base 1.0001)."""
    return math.log(max(score, 1e-300)) / _LOG_BASE


class HybridRecognizer:
    """The home grammar proposes, Whisper checks. Both are fed while the user speaks.

    The grammar decodes commands in ~30 ms and tells when one is complete (so the utterance can end after a short
    pause), but it forces speech outside the grammar onto some command ("turn on the hallway light" -> "turn on
    office light"), and its rejection test does not catch that: on Piper and espeak-ng speech, out-of-home
    commands reached margins of 16 and more ("set the temperature in the garage ..." -> "... in the lounge ..."),
    above in-grammar ones (espeak-ng: from 4.7). So Whisper decodes the same audio and its words are kept unless
    both mean the same command (`agree` returns the reading to act on, or None) or Whisper, asked to score the
    grammar's reading, finds it about as likely as its own (`second_opinion`); only with `trust_margin` set is a
    grammar result above it used unchecked.
    Whisper starts once the speaker pauses (`prepare_after_s`), so its decode overlaps the silence the listener
    waits for anyway; what the grammar rejects is Whisper's alone."""

    def __init__(self, grammar: PocketsphinxRecognizer, whisper, agree: Callable[[str, str], str | None],
                 trust_margin: float | None = None, prepare_after_s: float = 0.15, tail_s: float = 0.15,
                 second_opinion: Callable[[str, str], str | None] | None = None) -> None:
        self.grammar, self.whisper, self.agree = grammar, whisper, agree
        self.second_opinion = second_opinion
        self.trust_margin, self.prepare_after_s = trust_margin, prepare_after_s
        self.tail_bytes = int(tail_s * 16000) * 2
        self._end: int | None = None
        self.last_readings: tuple[str | None, str | None] = (None, None)
        """(grammar, Whisper) readings of the last utterance (None: that decoder gave none), for benchmarks."""

    def start(self) -> None:
        self.grammar.start()
        self.whisper.start()
        self._end, self.last_readings = None, (None, None)

    def feed(self, pcm: bytes) -> None:
        self.grammar.feed(pcm)
        self.whisper.feed(pcm)

    def pause(self, speech_bytes: int, silence_s: float) -> bool:
        if silence_s >= self.prepare_after_s:
            self.whisper.prepare(speech_bytes + self.tail_bytes)
        return self.grammar.pause(speech_bytes, silence_s)

    def mark_end(self, speech_bytes: int) -> None:
        self._end = speech_bytes + self.tail_bytes

    def close(self) -> None:
        self.whisper.close()

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        proposed = self.grammar.finish_grammar()
        if proposed is not None and self.trust_margin is not None and \
                (proposed.grammar_margin or 0.0) >= self.trust_margin:
            self.whisper.start()  # drops any speculative decode
            self.last_readings = (proposed.text, None)
            return proposed
        heard = self.whisper.finish(self._end)
        took = time.perf_counter() - t0
        self.last_readings = (None if proposed is None else proposed.text, heard.text)
        chosen = self.agree(proposed.text, heard.text) if proposed is not None and heard.text else None
        if chosen is None and proposed is not None and heard.text and self.second_opinion is not None:
            chosen = self.second_opinion(proposed.text, heard.text)
        if chosen is not None:
            source = "grammar" if chosen == proposed.text else heard.source
            return Transcript(chosen, source, took, proposed.grammar_margin)
        # Both heard a command, but not the same one ("bedroom" / "bathroom"): neither may be carried out.
        rival = proposed is not None and self.grammar.complete is not None and self.grammar.complete(heard.text)
        return Transcript(heard.text, heard.source, took, self.grammar.last_margin,
                          alternative=proposed.text if rival else None)
