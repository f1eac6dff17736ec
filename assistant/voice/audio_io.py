"""Where audio comes from and goes to: WAV files, raw PCM streams (stdin/stdout), a live microphone/speaker.

Sources yield 16 kHz 16-bit mono PCM; sinks accept 16-bit mono PCM at the synthesizer's rate and convert as needed.
"""

from __future__ import annotations

import queue
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import AudioDeviceError, AudioError
from .audio import FRAME_BYTES, FRAME_SAMPLES, RATE, WIDTH, read_wav, resample


class AudioSource(Protocol):
    """A stream of 16 kHz 16-bit mono PCM."""

    live: bool
    """True for a real-time device that never ends (a wake word is then always required)."""

    def chunks(self) -> Iterator[bytes]:
        """PCM in chunks of any even length, until the input ends."""
        ...

    def close(self) -> None:
        """Release the input."""
        ...


class AudioSink(Protocol):
    """Where reply audio goes."""

    def write(self, pcm: bytes, rate: int) -> None:
        """Append 16-bit mono PCM sampled at `rate`."""
        ...

    def close(self) -> None:
        """Finish the output (write headers, drain the device)."""
        ...


class WavFileSource:
    """A WAV file (any PCM format; converted to 16 kHz mono)."""

    live = False

    def __init__(self, path: Path) -> None:
        self.pcm = read_wav(path)

    def chunks(self) -> Iterator[bytes]:
        for i in range(0, len(self.pcm), FRAME_BYTES):
            yield self.pcm[i:i + FRAME_BYTES]

    def close(self) -> None:
        pass


class RawStreamSource:
    """Raw 16 kHz 16-bit mono little-endian PCM from a binary stream (e.g. stdin fed by `arecord -t raw`)."""

    live = False

    def __init__(self, stream: BinaryIO, read_bytes: int = 4096) -> None:
        self.stream, self.read_bytes = stream, read_bytes

    def chunks(self) -> Iterator[bytes]:
        carry = b""
        while True:
            block = self.stream.read(self.read_bytes)
            if not block:
                return
            block = carry + block
            cut = len(block) // WIDTH * WIDTH  # never split a sample between chunks
            carry = block[cut:]
            if cut:
                yield block[:cut]

    def close(self) -> None:
        pass


class WavFileSink:
    """Collects reply audio into a WAV file at the rate of the first write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rate: int | None = None
        self._parts: list[bytes] = []

    def write(self, pcm: bytes, rate: int) -> None:
        if self.rate is None:
            self.rate = rate
        self._parts.append(resample(pcm, rate, self.rate))

    def close(self) -> None:
        try:
            with wave.open(str(self.path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(WIDTH)
                wav.setframerate(self.rate or RATE)
                wav.writeframes(b"".join(self._parts))
        except OSError as exc:
            raise AudioError(f"cannot write {self.path}: {exc.strerror or exc}") from None


class RawStreamSink:
    """Raw 16 kHz 16-bit mono PCM to a binary stream (e.g. stdout piped to `aplay -t raw -r 16000 -f S16_LE`)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, pcm: bytes, rate: int) -> None:
        self.stream.write(resample(pcm, rate, RATE))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


def _sounddevice(kind: str):
    """The sounddevice module with a usable default device of `kind` (`input` or `output`), or a clear error."""
    what = "microphone" if kind == "input" else "speaker"
    try:
        import sounddevice as sd
    except ImportError:
        raise AudioDeviceError(f"a live {what} needs the `sounddevice` package (pip install 'hearth[voice]')") from None
    except OSError:
        raise AudioDeviceError(f"a live {what} needs the PortAudio library (Debian: apt-get install libportaudio2); "
                               "use --input FILE.wav instead") from None
    try:
        sd.query_devices(kind=kind)
    except (ValueError, sd.PortAudioError):
        raise AudioDeviceError(f"no {what} found on this machine; use "
                               f"{'--input FILE.wav' if kind == 'input' else '--output FILE.wav'} instead") from None
    return sd


class MicSource:
    """The default microphone through sounddevice (PortAudio), 16 kHz mono, 32 ms blocks."""

    live = True

    def __init__(self, stall_timeout_s: float = 3.0) -> None:
        sd = _sounddevice("input")
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=256)
        self.stall_timeout_s = stall_timeout_s
        try:
            self._stream = sd.RawInputStream(samplerate=RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
                                             callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the microphone: {exc}") from None

    def _callback(self, data, frames, time_info, status) -> None:  # runs on PortAudio's thread
        try:
            self._queue.put_nowait(bytes(data))
        except queue.Full:  # the consumer fell behind; dropping is better than blocking the audio thread
            pass

    def chunks(self) -> Iterator[bytes]:
        while True:
            try:
                yield self._queue.get(timeout=self.stall_timeout_s)
            except queue.Empty:
                raise AudioDeviceError(f"the microphone delivered no audio for {self.stall_timeout_s:.0f} s") from None

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


class SpeakerSink:
    """The default speaker through sounddevice; each write blocks until it is queued for playback."""

    def __init__(self) -> None:
        self._sd = _sounddevice("output")
        self._stream = None
        self.rate: int | None = None

    def write(self, pcm: bytes, rate: int) -> None:
        if self._stream is None:
            try:
                self._stream = self._sd.RawOutputStream(samplerate=rate, channels=1, dtype="int16")
                self._stream.start()
            except self._sd.PortAudioError as exc:
                raise AudioDeviceError(f"cannot open the speaker: {exc}") from None
            self.rate = rate
        self._stream.write(resample(pcm, rate, self.rate or rate))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()  # stop() plays what is buffered before returning
            self._stream.close()
            self._stream = None
