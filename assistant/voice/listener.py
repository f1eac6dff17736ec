"""From a stream of audio to one command utterance: wait for a wake word, find where the command starts, feed
it to speech-to-text while it is spoken, and decide when it has ended (trailing silence)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..settings import VoiceSettings
from .asr import SpeechRecognizer
from .audio import FRAME_BYTES, FRAME_S
from .vad import VoiceActivityDetector
from .wake import WakeDetection, WakeWordDetector

GAP_S = 0.2
"""A pause at least this long separates a wake phrase from the command after it."""
PREROLL_S = 0.25
"""Audio kept before the detected speech onset (the VAD marks onsets late)."""
LOOKBACK_S = 1.0
"""How far back a wake phrase may have ended when speech is already under way at the detection
(openWakeWord can report up to ~0.6 s after the phrase)."""
RING_S = 3.0


@dataclass
class Utterance:
    """One command as heard."""

    wake: WakeDetection | None
    """The wake word that opened it (None without wake word)."""
    pcm: bytes
    """Audio from the speech onset to the end-of-speech decision."""
    start_s: float | None
    """Stream position of the speech onset (None if no speech came)."""
    speech_end_s: float | None
    """Stream position where the last speech frame ended."""
    eos_s: float
    """Stream position where the end of speech was decided."""
    eos_wall: float
    """`time.perf_counter()` at that decision: the origin of the latency timings."""
    ended_by: Literal["silence", "command", "max_length", "end_of_input", "listen_timeout"]
    """Why the utterance was closed (`command`: a complete command followed by `command_silence_s`)."""


def reframe(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Exact 32 ms frames from chunks of any size (the last one zero-padded)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        while len(buf) >= FRAME_BYTES:
            yield buf[:FRAME_BYTES]
            buf = buf[FRAME_BYTES:]
    if buf:
        yield buf + bytes(FRAME_BYTES - len(buf))


def _frames_for(seconds: float) -> int:
    return max(1, math.ceil(seconds / FRAME_S))


class Listener:
    """Segments one command out of a frame stream. Keeps a frame clock across calls on the same stream."""

    def __init__(self, vad: VoiceActivityDetector, wake: WakeWordDetector | None, recognizer: SpeechRecognizer,
                 settings: VoiceSettings) -> None:
        self.vad, self.wake, self.recognizer, self.settings = vad, wake, recognizer, settings
        self.clock = 0
        self.recorded: list[bytes] | None = None
        self._ring: deque[tuple[bytes, bool]] = deque(maxlen=_frames_for(RING_S))

    def reset(self, record: bool = False) -> None:
        """A new stream; with `record`, keep every frame seen while waiting for the wake word (for replay)."""
        self.vad.reset()
        if self.wake is not None:
            self.wake.reset()
        self.clock = 0
        self._ring.clear()
        self.recorded = [] if record else None

    def _step(self, frame: bytes) -> bool:
        speech = self.vad.probability(frame) >= self.settings.vad_threshold
        self._ring.append((frame, speech))
        self.clock += 1
        return speech

    def wait_for_wake(self, frames: Iterator[bytes]) -> tuple[WakeDetection, list[bytes]] | None:
        """Consume frames until a wake word; return it and the frames of the command already spoken, if any."""
        assert self.wake is not None
        for frame in frames:
            if self.recorded is not None:
                self.recorded.append(frame)
            self._step(frame)
            hit = self.wake.process(frame)
            if hit is not None:
                hit = WakeDetection(hit.name, hit.probability, self.clock * FRAME_S)
                return hit, self._command_backlog()
        return None

    def _command_backlog(self) -> list[bytes]:
        """Frames after the wake phrase that already belong to the command (speech under way at detection)."""
        ring = list(self._ring)
        if not ring or not ring[-1][1]:
            return []  # silent now: the command starts at the next onset
        gap = _frames_for(GAP_S)
        i = len(ring) - 1
        while i >= 0 and any(s for _, s in ring[max(0, i - 2):i + 1]):  # the current run (tolerates 2-frame dips)
            i -= 1
        run_start = i + 1
        j = i
        while j >= 0 and not ring[j][1]:
            j -= 1
        silence = i - j
        recent_phrase = j >= 0 and (len(ring) - 1 - j) * FRAME_S <= LOOKBACK_S
        if silence >= gap and recent_phrase:
            pre = min(_frames_for(PREROLL_S), silence - 1)
            return [f for f, _ in ring[run_start - pre:]]
        return []  # the wake phrase runs into the command without a pause: the command starts now

    def collect(self, frames: Iterator[bytes], wake: WakeDetection | None, backlog: list[bytes]) -> Utterance:
        """Feed the command to speech-to-text from its onset until the end of speech."""
        s = self.settings
        self.recognizer.start()
        timeout = _frames_for(s.listen_timeout_s) if wake is not None else None
        trailing_needed, max_frames = _frames_for(s.trailing_silence_s), _frames_for(s.max_utterance_s)
        pause = getattr(self.recognizer, "pause", None)  # see asr.Endpointing
        pcm: list[bytes] = []
        start = self.clock - len(backlog) if backlog else None
        last_speech, waited = (self.clock if backlog else None), 0
        for frame in backlog:
            pcm.append(frame)
            self.recognizer.feed(frame)
        ended_by = "end_of_input"
        for frame in frames:
            speech = self._step(frame)
            if start is None:
                waited += 1
                if not speech:
                    if timeout is not None and waited >= timeout:
                        ended_by = "listen_timeout"
                        break
                    continue
                # Pre-roll only from the wait itself: earlier frames may hold the end of the wake phrase.
                k = min(_frames_for(PREROLL_S), waited - 1)
                ring = list(self._ring)
                pre = [f for f, _ in ring[len(ring) - 1 - k:len(ring) - 1]] if k > 0 else []
                start = self.clock - 1 - len(pre)
                for f in pre:
                    pcm.append(f)
                    self.recognizer.feed(f)
            pcm.append(frame)
            self.recognizer.feed(frame)
            if speech:
                last_speech = self.clock
            if self.clock - last_speech >= trailing_needed:
                ended_by = "silence"
                break
            if not speech and pause is not None and last_speech is not None and \
                    pause((last_speech - start) * FRAME_BYTES, (self.clock - last_speech) * FRAME_S):
                ended_by = "command"
                break
            if self.clock - start >= max_frames:
                ended_by = "max_length"
                break
        if last_speech is not None and hasattr(self.recognizer, "mark_end"):
            self.recognizer.mark_end((last_speech - start) * FRAME_BYTES)
        return Utterance(wake=wake, pcm=b"".join(pcm), start_s=None if start is None else start * FRAME_S,
                         speech_end_s=None if last_speech is None else last_speech * FRAME_S,
                         eos_s=self.clock * FRAME_S, eos_wall=time.perf_counter(), ended_by=ended_by)
