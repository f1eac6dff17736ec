"""PCM helpers: every stage works on 16 kHz, 16-bit, mono little-endian PCM (`bytes`).

Input in other formats (WAV files at 22.05/44.1/48 kHz, stereo, 8/24/32-bit) is converted once at the edge.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..errors import AudioError

RATE = 16000
"""Sample rate of every stage's input."""
WIDTH = 2
"""Bytes per sample (16-bit)."""
FRAME_SAMPLES = 512
"""Samples per processing frame (32 ms): Silero VAD's fixed window, and the pipeline's clock tick."""
FRAME_BYTES = FRAME_SAMPLES * WIDTH
FRAME_S = FRAME_SAMPLES / RATE


def seconds(pcm: bytes, rate: int = RATE) -> float:
    """Duration of 16-bit mono PCM."""
    return len(pcm) / (WIDTH * rate)


def to_int16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to 16-bit PCM (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of 16-bit PCM in dB relative to full scale (-inf-ish for digital silence)."""
    if len(pcm) < WIDTH:
        return -120.0
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0


def resample(pcm: bytes, src_rate: int, dst_rate: int = RATE) -> bytes:
    """Resample 16-bit mono PCM (windowed-sinc low-pass before downsampling, then linear interpolation)."""
    if src_rate == dst_rate or not pcm:
        return pcm
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if dst_rate < src_rate:
        x = _lowpass(x, 0.5 * dst_rate / src_rate)
    n_out = round(len(x) * dst_rate / src_rate)
    t = np.arange(n_out) * (src_rate / dst_rate)
    y = np.interp(t, np.arange(len(x)), x)
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


def _lowpass(x: np.ndarray, cutoff: float, taps: int = 63) -> np.ndarray:
    """FIR low-pass at `cutoff` (fraction of the sample rate), Hann-windowed, unit DC gain."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(taps)
    return np.convolve(x, h / h.sum(), mode="same")


def normalize_pcm(raw: bytes, rate: int, width: int, channels: int) -> bytes:
    """Any integer PCM (8/16/24/32-bit, any channel count, any rate) to 16 kHz 16-bit mono."""
    if width not in (1, 2, 3, 4) or channels < 1 or rate < 4000:
        raise AudioError(f"unsupported PCM format: {rate} Hz, {8 * width}-bit, {channels} channel(s)")
    frame = width * channels
    raw = raw[: len(raw) // frame * frame]
    x = _decode_samples(raw, width).reshape(-1, channels).mean(axis=1)
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes()
    return resample(pcm, rate, RATE)


def _decode_samples(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # WAV 8-bit is unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        return v.astype(np.float64) / 8388608.0
    return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0


def read_wav(path: Path) -> bytes:
    """A WAV file as 16 kHz 16-bit mono PCM."""
    try:
        with wave.open(str(path), "rb") as wav:
            params = wav.getparams()
            raw = wav.readframes(params.nframes)
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {path}") from None
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a readable PCM WAV file: {path} ({exc})") from None
    except IsADirectoryError:
        raise AudioError(f"audio input is a directory: {path}") from None
    return normalize_pcm(raw, params.framerate, params.sampwidth, params.nchannels)


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """16-bit mono PCM wrapped in a WAV container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(WIDTH)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buf.getvalue()


def frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """Split PCM into `size`-byte frames; the last one is zero-padded."""
    out = [pcm[i:i + size] for i in range(0, len(pcm), size)]
    if out and len(out[-1]) < size:
        out[-1] = out[-1] + bytes(size - len(out[-1]))
    return out
