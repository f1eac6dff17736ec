"""Wiring: the voice components chosen in `VoiceSettings`, built once and shared by the CLI and the Wyoming
server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..assistant import Assistant
from ..errors import HearthError
from ..runtime import shutdown
from ..settings import Settings
from .asr import SpeechRecognizer
from .engines import build_recognizer, build_synthesizer, common_replies
from .executors import IntentExecutor, SimulatedHome
from .home import Home, load_home
from .intents import IntentRecognizer
from .piper_tts import CachedSynthesizer
from .responder import Responder
from .tts import Synthesizer
from .vad import SileroVad, VoiceActivityDetector
from .wake import OpenWakeWordDetector, WakeWordDetector


class BackgroundAssistant:
    """Loads the Assistant (and its model) in a thread once started, so commands never wait for it and the first
    question waits at most for what is left of the load."""

    def __init__(self, factory: Callable[[threading.Event], Assistant]) -> None:
        self._factory = factory
        self.cancel = threading.Event()
        """Set by `close`: the factory should stop optional work (the warm-up generation)."""
        self._done = threading.Event()
        self._value: Assistant | None = None
        self._error: HearthError | None = None
        self._thread = threading.Thread(target=self._load, daemon=True, name="hearth-voice-load")

    def start(self) -> BackgroundAssistant:
        self._thread.start()
        return self

    def _load(self) -> None:
        try:
            self._value = self._factory(self.cancel)
        except HearthError as exc:
            self._error = exc
        except Exception as exc:  # noqa: BLE001 -- reported to whoever asks, instead of dying silently in a thread
            self._error = HearthError(f"loading the assistant failed: {exc.__class__.__name__}: {exc}")
        finally:
            self._done.set()

    def __call__(self) -> Assistant:
        if not self._thread.is_alive() and not self._done.is_set():
            raise HearthError("the assistant was never started")
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def close(self, timeout_s: float = 60.0) -> None:
        """Free the model; waits (bounded) for a load still in progress, because tearing down the interpreter
        under a native model load crashes the process."""
        self.cancel.set()
        if not self._thread.is_alive() and not self._done.is_set():
            return  # never started
        self._done.wait(timeout_s)
        if self._value is not None:
            shutdown(self._value)
            self._value = None


@dataclass
class VoiceStack:
    """Every component of the pipeline."""

    settings: Settings
    """The settings it was built from."""
    home: Home
    """The home description."""
    wake: WakeWordDetector | None
    """Wake-word detector (None when `wake_mode` is `off`)."""
    vad: VoiceActivityDetector
    """Voice activity detector."""
    asr: SpeechRecognizer
    """Speech-to-text (see `voice.asr_engine`)."""
    tts: Synthesizer
    """Text-to-speech (cached when `voice.tts_cache_size` > 0)."""
    intents: IntentRecognizer
    """The local fast path."""
    executor: IntentExecutor
    """Carries out intents."""
    responder: Responder
    """Transcript -> spoken reply."""
    asr_engine: str = "pocketsphinx"
    """The speech-to-text engine in use (`voice.asr_engine`, unless it fell back to pocketsphinx)."""
    notes: list[str] = field(default_factory=list)
    """Fallbacks taken while building (a missing Whisper model or Piper voice), for the user to read."""
    background: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)
    """Work started by the build (pre-synthesis of replies), stopped by `close`."""

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop background synthesis and wait for it: native inference threads still running while the
        interpreter shuts down abort the process."""
        for thread, stop in self.background:
            stop.set()
            thread.join(timeout_s)
        self.background.clear()
        if hasattr(self.asr, "close"):
            self.asr.close()


def build_executor(settings: Settings, home: Home) -> IntentExecutor:
    v = settings.voice
    if v.executor == "homeassistant":
        from .homeassistant import HomeAssistantExecutor

        token = v.ha_token.get_secret_value() if v.ha_token is not None else ""
        return HomeAssistantExecutor(home, v.ha_url or "", token, timeout_s=v.ha_timeout_s)
    return SimulatedHome(home)


def build_stack(settings: Settings, assistant: Callable[[], Assistant] | None = None,
                executor: IntentExecutor | None = None, with_wake: bool | None = None) -> VoiceStack:
    """Build the components; `assistant` provides the Assistant for questions (None: questions get an apology)."""
    v = settings.voice
    home = load_home(v.home_file)
    use_wake = (v.wake_mode != "off") if with_wake is None else with_wake
    wake = OpenWakeWordDetector(v.wake_words, v.wake_threshold, v.wake_refractory_s) if use_wake else None
    intents = IntentRecognizer(home)
    notes: list[str] = []
    asr = build_recognizer(settings, home, intents, notes)
    tts = build_synthesizer(settings, notes)
    background = []
    if v.tts_cache_size > 0:
        tts = CachedSynthesizer(tts, v.tts_cache_size)
        if v.tts_prewarm:
            stop = threading.Event()
            background.append((tts.warm(common_replies(home), stop), stop))
    executor = executor if executor is not None else build_executor(settings, home)
    responder = Responder(intents, executor, assistant, v, settings.sampling)
    engine = {"HybridRecognizer": "hybrid", "WhisperRecognizer": "whisper"}.get(type(asr).__name__, "pocketsphinx")
    return VoiceStack(settings, home, wake, SileroVad(), asr, tts, intents, executor, responder, engine, notes,
                      background)
