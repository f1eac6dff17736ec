"""PCM conversion, WAV and raw-stream I/O, sentence chunking, spoken numbers."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from assistant.errors import AudioDeviceError, AudioError
from assistant.voice import numbers
from assistant.voice.audio import normalize_pcm, read_wav, resample, rms_dbfs, seconds, to_int16, wav_bytes
from assistant.voice.audio_io import MicSource, RawStreamSink, RawStreamSource, SpeakerSink, WavFileSink
from assistant.voice.sentences import SentenceChunker, clean_for_speech


def _tone(freq: float, rate: int, secs: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * secs)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("src_rate", [8000, 22050, 44100, 48000])
def test_resample_keeps_pitch_and_length(src_rate):
    pcm = to_int16(_tone(440.0, src_rate))
    out = resample(pcm, src_rate, 16000)
    assert abs(seconds(out) - 1.0) < 0.002
    assert abs(_peak_hz(out, 16000) - 440.0) < 3.0


def test_downsampling_removes_frequencies_above_the_new_nyquist():
    # 10 kHz cannot exist at 16 kHz; without the low-pass it would alias to 6 kHz at full strength.
    out = resample(to_int16(_tone(10_000.0, 44100)), 44100, 16000)
    assert rms_dbfs(out) < rms_dbfs(to_int16(_tone(10_000.0, 44100))) - 20


def test_normalize_stereo_8_and_24_bit():
    mono = _tone(300.0, 16000, 0.5)
    stereo16 = np.stack([mono, mono], axis=1).reshape(-1)
    out = normalize_pcm(to_int16(stereo16), 16000, 2, 2)
    assert len(out) == len(mono) * 2 and abs(_peak_hz(out, 16000) - 300) < 3
    u8 = (np.clip(mono, -1, 1) * 127 + 128).astype(np.uint8).tobytes()
    assert abs(_peak_hz(normalize_pcm(u8, 16000, 1, 1), 16000) - 300) < 3
    i24 = (mono * 8_000_000).astype("<i4")
    b24 = np.frombuffer(i24.tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()
    out24 = normalize_pcm(b24, 16000, 3, 1)
    assert abs(rms_dbfs(out24) - rms_dbfs(to_int16(mono))) < 0.5


def test_read_wav_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        read_wav(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioError, match="not a readable PCM WAV"):
        read_wav(bad)
    with pytest.raises(AudioError, match="unsupported PCM"):
        normalize_pcm(b"\0" * 16, 16000, 5, 1)


def test_wav_round_trip_at_other_rates(tmp_path):
    path = tmp_path / "in.wav"
    pcm = to_int16(_tone(500.0, 22050))
    path.write_bytes(wav_bytes(pcm, 22050))
    out = read_wav(path)
    assert abs(seconds(out) - 1.0) < 0.002 and abs(_peak_hz(out, 16000) - 500) < 3


def test_wav_sink_writes_valid_wav_at_first_rate(tmp_path):
    sink = WavFileSink(tmp_path / "out.wav")
    sink.write(to_int16(_tone(440, 22050, 0.5)), 22050)
    sink.write(to_int16(_tone(440, 16000, 0.5)), 16000)  # converted to the first write's rate
    sink.close()
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
        assert abs(w.getnframes() / 22050 - 1.0) < 0.01


def test_raw_stream_source_never_splits_a_sample():
    data = to_int16(_tone(200, 16000, 0.1))
    src = RawStreamSource(io.BytesIO(data), read_bytes=1001)
    chunks = list(src.chunks())
    assert all(len(c) % 2 == 0 for c in chunks) and b"".join(chunks) == data


def test_raw_stream_sink_outputs_16k():
    buf = io.BytesIO()
    RawStreamSink(buf).write(to_int16(_tone(440, 22050, 1.0)), 22050)
    assert abs(len(buf.getvalue()) / 32000 - 1.0) < 0.002


def test_live_audio_without_a_device_is_a_clear_error():
    with pytest.raises(AudioDeviceError, match="microphone|PortAudio"):
        MicSource()
    with pytest.raises(AudioDeviceError, match="speaker|PortAudio"):
        SpeakerSink()


def test_sentence_chunker_streams_sentences_and_cuts_a_long_first_one():
    c = SentenceChunker()
    out = []
    for word in ["It", "is", "2.5", "degrees.", "Paris", "is", "the", "capital", "of", "France,", "known", "for", "art", "and", "food!", "Done"]:
        out += c.push(word + " ")
    out += c.flush()
    assert out == ["It is 2.5 degrees.", "Paris is the capital of France, known for art and food!", "Done"]
    c = SentenceChunker(first_clause_words=3, first_max_words=10)
    first = c.push("Paris is the capital, and ")
    assert first == ["Paris is the capital,"]
    c = SentenceChunker(first_max_words=4)
    assert c.push("one two three four five six") == ["one two three four"]


def test_markdown_is_not_spoken():
    assert clean_for_speech("**Bold** and `code` with a [link](http://x)\n- item") == "Bold and code with a link item"


def test_numbers_both_ways():
    assert [numbers.to_words(n) for n in (0, 13, 20, 42, 100)] == ["zero", "thirteen", "twenty", "forty two",
                                                                    "one hundred"]
    assert all(numbers.WORDS_TO_NUMBER[numbers.to_words(n)] == n for n in range(101))
    assert numbers.digits_to_words("set to 50%").split() == ["set", "to", "fifty", "%"]
    assert "250" in numbers.digits_to_words("250")
