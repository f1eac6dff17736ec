"""Open-vocabulary speech-to-text with Whisper (faster-whisper's CTranslate2 model), sized to the utterance.

Whisper's encoder is trained on 30-second windows and faster-whisper always pads to one (3,000 mel frames): on a
2-core CPU, Whisper base then spends ~0.9 s encoding mostly silence for a 2-second question. CTranslate2's encoder
accepts shorter inputs, so the utterance is padded only to `len + pad_s`, at least `min_window_s` (10 s: on 10
questions spoken by Piper and espeak-ng, 10-second windows gave a word error rate of 11.9% at 0.23 s per
utterance, full 30-second windows 12.7% at 2.9 s, 3-5 second windows lost first words; measured under load). A window barely longer
than the speech makes the decoder loop ("... Juliet. Who wrote Romeo and Juliet. Who wrote ..."), so the output is
checked (token budget, repeated n-grams) and such a result is decoded again on the full 30-second window.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SpeechToolError
from .asr import Transcript
from .audio import RATE

FRAMES_PER_S = 100
"""Whisper's mel frames per second (hop of 160 samples at 16 kHz)."""
FULL_WINDOW = 3000
"""The 30-second window Whisper was trained on."""
TOKENS_PER_S = 8
"""Generous upper bound on text tokens per second of speech (fast English speech is ~4-5 tokens/s)."""


@dataclass(frozen=True, slots=True)
class WhisperStats:
    """How one decode went."""

    audio_s: float
    """Seconds of audio decoded."""
    window_frames: int
    """Encoder input length used (mel frames)."""
    decode_s: float
    """Wall seconds for features, encoder and decoder."""
    retried: bool
    """Whether the short window's result was rejected and the full window decoded."""
    encoded: object = field(default=None, repr=False, compare=False)
    """The encoder's output for the window decoded (a CTranslate2 StorageView), kept for `score`."""

    @property
    def rtf(self) -> float:
        """Real-time factor: decode seconds per second of audio."""
        return self.decode_s / max(self.audio_s, 1e-6)


class WhisperModelRunner:
    """A loaded Whisper model; `transcribe(pcm)` is thread-safe (calls are serialised)."""

    def __init__(self, model_dir: Path, threads: int = 2, compute_type: str = "int8", beam_size: int = 1,
                 pad_s: float = 1.0, min_window_s: float = 10.0, prompt: str | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError:
            raise SpeechToolError("Whisper speech-to-text needs `faster-whisper` (pip install 'hearth[voice]')") \
                from None
        if not (Path(model_dir) / "model.bin").is_file():
            raise ConfigError(f"no Whisper model in {model_dir}; run `hearth pull whisper-base`")
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe",
                                   language="en")
        self.beam_size, self.pad_s, self.min_window_s = beam_size, pad_s, min_window_s
        # A prompt of the home's names biases spelling ("lounge", "thermostat") without forcing anything.
        self._prompt_tokens = self.tokenizer.encode(" " + prompt.strip())[-120:] if prompt else []
        self._suppress = [-1, *self.tokenizer.non_speech_tokens]
        self._lock = threading.Lock()
        self.last: WhisperStats | None = None
        self.transcribe(bytes(RATE))  # the first decode allocates CTranslate2's buffers: not the user's turn

    def transcribe(self, pcm: bytes) -> tuple[str, WhisperStats]:
        """Text of 16 kHz 16-bit mono speech (empty for no audio); raises SpeechToolError if decoding fails."""
        audio = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        t0 = time.perf_counter()
        if audio.size < RATE // 10:  # under 0.1 s: nothing Whisper could read
            stats = WhisperStats(audio.size / RATE, 0, time.perf_counter() - t0, False)
            return "", stats
        with self._lock:
            try:
                features = self.model.feature_extractor(audio)
                n = features.shape[-1]
                window = min(FULL_WINDOW, max(n + int(self.pad_s * FRAMES_PER_S),
                                              int(self.min_window_s * FRAMES_PER_S)))
                budget = 8 + int(TOKENS_PER_S * audio.size / RATE)
                text, ok, encoded = self._decode(features, window, budget)
                retried = not ok and window < FULL_WINDOW
                if retried:
                    text, _, encoded = self._decode(features, FULL_WINDOW, budget)
            except (RuntimeError, ValueError) as exc:  # CTranslate2 reports failures as RuntimeError
                raise SpeechToolError(f"Whisper failed: {exc}") from None
        stats = WhisperStats(audio.size / RATE, window if not retried else FULL_WINDOW, time.perf_counter() - t0,
                             retried, encoded)
        self.last = stats
        return text, stats

    def score(self, stats: WhisperStats, texts: list[str]) -> list[float]:
        """Log-probability (natural log, summed over tokens) that Whisper gives each of `texts` as the
        transcript of the audio `stats` describes (teacher-forced, with the same prompt as its own decode);
        raises SpeechToolError when that audio's encoding was not kept or scoring fails."""
        if stats.encoded is None:
            raise SpeechToolError("no Whisper encoding to score against")
        out = []
        with self._lock:
            try:
                for text in texts:
                    tokens = [*self.tokenizer.encode(" " + text.strip()), self.tokenizer.eot]
                    result = self.model.model.align(stats.encoded, self._prompt(), [tokens],
                                                    stats.window_frames // 2)[0]
                    out.append(float(np.sum(np.log(np.maximum(result.text_token_probs, 1e-12)))))
            except (RuntimeError, ValueError) as exc:
                raise SpeechToolError(f"Whisper failed to score: {exc}") from None
        return out

    def _prompt(self) -> list[int]:
        return ([self.tokenizer.sot_prev, *self._prompt_tokens] if self._prompt_tokens else []) + \
            [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    def _decode(self, features: np.ndarray, window: int, budget: int) -> tuple[str, bool, object]:
        import ctranslate2

        n = features.shape[-1]
        padded = features[:, :window] if n >= window else np.pad(features, ((0, 0), (0, window - n)))
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(padded[None])),
                                          to_cpu=False)
        prompt = self._prompt()
        result = self.model.model.generate(encoded, [prompt], beam_size=self.beam_size,
                                           max_length=len(prompt) + budget,
                                           suppress_tokens=self._suppress, suppress_blank=True,
                                           return_no_speech_prob=True)[0]
        tokens = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
        text = self.tokenizer.decode(tokens).strip()
        looped = len(tokens) >= budget - 1 or _repeats(tokens)
        if result.no_speech_prob > 0.8 and window == FULL_WINDOW:
            return "", True, encoded
        return text, not looped, encoded


def _repeats(tokens: list[int], n: int = 4) -> bool:
    """True when some n-gram of tokens occurs twice (the decoder looping over a too-short window)."""
    seen = set()
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            return True
        seen.add(gram)
    return False


class WhisperRecognizer:
    """`SpeechRecognizer` over a Whisper model: audio is buffered while it arrives and decoded at `finish`.

    `prepare()` (called by the listener once the speaker has paused) decodes the audio so far in a worker thread;
    if no speech follows, `finish` returns that result instead of starting over, so the decode overlaps the
    trailing silence that end-of-speech detection waits for anyway."""

    def __init__(self, runner: WhisperModelRunner) -> None:
        self.runner = runner
        self._chunks: list[bytes] = []
        self._speculation: tuple[int, threading.Thread, dict] | None = None
        self._end: int | None = None
        self.last_stats: WhisperStats | None = None
        self.prepare_after_s, self.tail_bytes = 0.15, int(0.15 * RATE) * 2

    def start(self) -> None:
        self._chunks, self._speculation, self._end = [], None, None

    def close(self) -> None:
        """Wait for a speculative decode still running (it must not outlive the interpreter)."""
        spec, self._speculation = self._speculation, None
        if spec is not None:
            spec[1].join()

    def pause(self, speech_bytes: int, silence_s: float) -> bool:
        if silence_s >= self.prepare_after_s:
            self.prepare(speech_bytes + self.tail_bytes)
        return False  # Whisper cannot tell a finished sentence from a pause

    def mark_end(self, speech_bytes: int) -> None:
        self._end = speech_bytes + self.tail_bytes

    def score(self, texts: list[str]) -> list[float]:
        """`WhisperModelRunner.score` of `texts` against the last utterance `finish` transcribed."""
        if self.last_stats is None:
            raise SpeechToolError("no utterance to score against")
        return self.runner.score(self.last_stats, texts)

    def feed(self, pcm: bytes) -> None:
        if pcm:
            self._chunks.append(pcm)

    def prepare(self, speech_bytes: int | None = None) -> None:
        """Start decoding the first `speech_bytes` of the utterance (default: all of it so far) in the
        background; a later `prepare` or `finish` with more speech supersedes it."""
        pcm = b"".join(self._chunks)
        if speech_bytes is not None and len(pcm) < speech_bytes:
            return  # its tail has not arrived yet
        pcm = pcm if speech_bytes is None else pcm[:speech_bytes]
        if self._speculation is not None and self._speculation[0] == len(pcm):
            return
        box: dict = {}

        def run() -> None:
            try:
                box["result"] = self.runner.transcribe(pcm)
            except SpeechToolError as exc:
                box["error"] = exc

        thread = threading.Thread(target=run, daemon=True, name="hearth-whisper")
        thread.start()
        self._speculation = (len(pcm), thread, box)

    def finish(self, speech_bytes: int | None = None) -> Transcript:
        """The transcript of the utterance (or of its first `speech_bytes`: what came after the last speech
        frame is only silence)."""
        t0 = time.perf_counter()
        pcm = b"".join(self._chunks)
        speech_bytes = speech_bytes if speech_bytes is not None else self._end
        pcm = pcm if speech_bytes is None else pcm[:speech_bytes]
        spec, self._speculation = self._speculation, None
        result = None
        if spec is not None and spec[0] == len(pcm):
            spec[1].join()
            if "error" in spec[2]:
                raise spec[2]["error"]
            result = spec[2]["result"]
        text, stats = result if result is not None else self.runner.transcribe(pcm)
        self.last_stats = stats
        text = " ".join(text.split())
        return Transcript(text, "whisper" if text else "none", time.perf_counter() - t0)
