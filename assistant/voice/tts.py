"""Text-to-speech: text in, 16-bit mono PCM out, streamed as the engine produces it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import Protocol

from ..errors import SpeechToolError


class Synthesizer(Protocol):
    """Speaks one piece of text (a sentence) at a time."""

    sample_rate: int
    """Rate of the PCM `synthesize` yields."""

    def synthesize(self, text: str) -> Iterator[bytes]:
        """16-bit mono PCM chunks of `text` spoken, yielded as soon as they are produced."""
        ...


class EspeakSynthesizer:
    """espeak-ng as a subprocess per sentence (it starts in ~10 ms); audio is read from its stdout as it comes."""

    sample_rate = 22050

    def __init__(self, voice: str = "en-us", speed: int = 175, timeout_s: float = 10.0,
                 binary: str = "espeak-ng", read_bytes: int = 4096) -> None:
        path = shutil.which(binary)
        if path is None:
            raise SpeechToolError(f"text-to-speech needs the `{binary}` program (Debian: apt-get install espeak-ng)")
        self.binary, self.voice, self.speed = path, voice, speed
        self.timeout_s, self.read_bytes = timeout_s, read_bytes

    def synthesize(self, text: str) -> Iterator[bytes]:
        text = " ".join(text.split())
        if not text:
            return
        cmd = [self.binary, "-v", self.voice, "-s", str(self.speed), "--stdout", "--stdin"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        timer = threading.Timer(self.timeout_s, proc.kill)  # the deadline covers the whole sentence
        timer.start()
        try:
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
            self._read_header(proc)
            carry = b""
            while chunk := proc.stdout.read1(self.read_bytes):
                chunk, carry = _aligned(carry + chunk)
                if chunk:
                    yield chunk
            if proc.wait() != 0:
                raise self._failure(proc)
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def _read_header(self, proc: subprocess.Popen) -> None:
        """Consume the WAV header espeak-ng writes first (RIFF, fmt, then a data chunk of unknown length)."""
        head = _read_exact(proc.stdout, 12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            proc.wait()
            raise self._failure(proc)
        while True:
            chunk = _read_exact(proc.stdout, 8)
            if len(chunk) < 8:
                raise self._failure(proc)
            tag, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if tag == b"data":
                return
            body = _read_exact(proc.stdout, size)
            if tag == b"fmt " and len(body) >= 16:
                channels, rate, _, _, bits = struct.unpack("<HIIHH", body[2:16])
                if channels != 1 or bits != 16:
                    raise SpeechToolError(f"espeak-ng produced {channels}-channel {bits}-bit audio")
                self.sample_rate = rate

    def _failure(self, proc: subprocess.Popen) -> SpeechToolError:
        if proc.returncode is not None and proc.returncode < 0:
            return SpeechToolError(f"espeak-ng did not finish within {self.timeout_s:.0f} s")
        detail = proc.stderr.read().decode("utf-8", "replace").strip()[:200]
        return SpeechToolError(f"espeak-ng failed (voice {self.voice!r}): {detail or 'no audio produced'}")


def _aligned(data: bytes) -> tuple[bytes, bytes]:
    """Whole 16-bit samples, and the odd byte left over (a pipe read can end mid-sample)."""
    cut = len(data) // 2 * 2
    return data[:cut], data[cut:]


def _read_exact(stream, n: int) -> bytes:
    out = b""
    while len(out) < n:
        part = stream.read(n - len(out))
        if not part:
            break
        out += part
    return out
