"""Voice test fixtures: real speech synthesised by espeak-ng at test time, one shared voice stack."""

from __future__ import annotations

import functools
import io
import subprocess
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.settings import load_settings
from assistant.voice.audio import RATE, normalize_pcm, to_int16, wav_bytes
from tests.threads import THREADS

# How each built-in wake word is written for espeak-ng so that it sounds like the phrase the model was trained on.
# ("mycroft" is read as "mick-roft"; okay_nabu scores highest with a female en-us voice.)
WAKE_PHRASES = {
    "hey_jarvis": ("hey jarvis", "en-us"),
    "okay_nabu": ("okay nabu", "en-us+f3"),
    "hey_mycroft": ("hey mike roft", "en-us"),
    "alexa": ("alexa", "en-us"),
    "hey_rhasspy": ("hey rhasspy", "en-us"),
}


@functools.lru_cache(maxsize=512)
def _speak(text: str, voice: str = "en-us", speed: int = 175) -> bytes:
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                          check=True, timeout=30)
    with wave.open(io.BytesIO(proc.stdout)) as w:  # espeak's header has a bogus length when piped; rates are real
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
    return normalize_pcm(proc.stdout[44:], rate, width, channels)


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def noise(seconds: float, level_db: float = -30.0, seed: int = 0, colour: str = "white") -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE))
    if colour == "brown":
        x = np.cumsum(x)
        x -= np.convolve(x, np.ones(801) / 801, mode="same")  # keep it from drifting away
    x = x / (np.sqrt(np.mean(x * x)) + 1e-12) * 10 ** (level_db / 20)
    return to_int16(x)


@pytest.fixture(scope="session")
def piper_speak(stack):
    """`piper_speak(text)` -> 16 kHz PCM of the Piper voice saying it (skips when the voice is not installed)."""
    from assistant.voice.piper_tts import PiperSynthesizer

    inner = getattr(stack.tts, "inner", stack.tts)
    if not isinstance(inner, PiperSynthesizer):
        pytest.skip("the Piper voice is not installed (hearth pull piper-joe-medium)")

    # Piper samples noise per utterance; the tests' voice must say one text the same way on every run
    voice = PiperSynthesizer(inner.path, variation=False)

    @functools.lru_cache(maxsize=128)
    def speak(text: str) -> bytes:
        return normalize_pcm(b"".join(voice.synthesize(text)), voice.sample_rate, 2, 1)

    return speak


@pytest.fixture(scope="session")
def sound():
    """Generators of non-speech audio: `sound.silence(s)`, `sound.noise(s, level_db, seed, colour)`."""
    return SimpleNamespace(silence=silence, noise=noise)


@pytest.fixture(scope="session")
def speak():
    """`speak(text, voice="en-us", speed=175)` -> 16 kHz 16-bit mono PCM of espeak-ng saying it."""
    return _speak


@pytest.fixture(scope="session")
def wake_audio():
    """`wake_audio(name)` -> PCM of the wake phrase."""
    return lambda name: _speak(*WAKE_PHRASES[name])


@pytest.fixture(scope="session")
def voice_settings(default_model_path: Path):
    """Settings for voice tests: the real default model, greedy short replies (deterministic, quick)."""
    return load_settings(model=str(default_model_path), engine={"n_ctx": 2048, "n_threads": THREADS},
                         sampling={"temperature": 0.0, "seed": 1}, voice={"max_tokens": 32, "reply_timeout_s": 180.0})


@pytest.fixture(scope="session")
def stack(voice_settings, engine):
    """One voice stack for the session, answering questions with the shared engine."""
    from assistant.assistant import Assistant
    from assistant.voice.stack import build_stack

    assistant = Assistant(engine, voice_settings)
    stack = build_stack(voice_settings, assistant=lambda: assistant)
    yield stack
    stack.close()


@pytest.fixture
def write_wav(tmp_path: Path):
    def write(name: str, pcm: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(wav_bytes(pcm))
        return path

    return write


@pytest.fixture(scope="module")
def home():
    """The example home (`assistant/voice/home_example.toml`); a module may override it with its own."""
    from assistant.voice.home import load_home

    return load_home()


@pytest.fixture(scope="module")
def recognizer(home):
    """The intent recogniser of `home`."""
    from assistant.voice.intents import IntentRecognizer

    return IntentRecognizer(home)


@pytest.fixture(scope="module")
def refused(recognizer, home):
    """`refused(text)` -> the IntentResult of carrying out `text` on a fresh simulated `home`, asserting that it was
    not carried out and that no device changed."""
    from assistant.voice.executors import SimulatedHome

    def run(text: str):
        sim = SimulatedHome(home)
        before = {k: dict(v) for k, v in sim.states.items()}
        intent = recognizer.recognize(text)
        assert intent is not None, text
        result = sim.execute(intent)
        assert not result.ok and sim.states == before, (text, result)
        return result

    return run

