"""What `hearth wyoming` tells Home Assistant it can do (the `info` answer to `describe`)."""

from __future__ import annotations

from importlib import metadata

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
    WakeModel,
    WakeProgram,
)

from ..settings import Settings

_HEARTH = Attribution(name="Hearth", url="")  # no public home page to point at yet
_LANGS = ["en"]


def _version() -> str | None:
    try:
        return metadata.version("hearth")
    except metadata.PackageNotFoundError:
        return None


def build_info(settings: Settings, asr_engine: str = "pocketsphinx", tts_voice: str | None = None) -> Info:
    """asr (the engine in use: `hybrid`, `whisper` or `pocketsphinx`), tts (the Piper voice in use, else
    espeak-ng), wake (openWakeWord) and handle (intents + assistant)."""
    v, version = settings.voice, _version()
    asr = AsrProgram(
        name="hearth-asr", attribution=_HEARTH, installed=True, version=version,
        description="Offline speech-to-text: " + _ASR_DESCRIPTIONS[asr_engine],
        models=[AsrModel(name=f"hearth-{asr_engine}", languages=_LANGS, installed=True, version=version,
                         attribution=_ASR_ATTRIBUTION[asr_engine], description=_ASR_DESCRIPTIONS[asr_engine])],
        supports_transcript_streaming=v.wyoming_stream_asr)
    voices = [TtsVoice(name=v.tts_voice, languages=_LANGS, installed=True, version=None, description="espeak-ng",
                       attribution=Attribution(name="eSpeak NG", url="https://github.com/espeak-ng/espeak-ng"))]
    if tts_voice is not None:
        voices.insert(0, TtsVoice(name=tts_voice, languages=_LANGS, installed=True, version=None,
                                  description=f"Piper {tts_voice}",
                                  attribution=Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")))
    tts = TtsProgram(
        name="hearth-tts", attribution=_HEARTH, installed=True, version=version,
        description="Offline text-to-speech (Piper, espeak-ng), sentence by sentence",
        voices=voices, supports_synthesize_streaming=v.wyoming_stream_tts)
    wake = WakeProgram(
        name="hearth-wake", attribution=_HEARTH, installed=True, version=version,
        description="openWakeWord models through pyopen-wakeword",
        models=[WakeModel(name=n, phrase=n.replace("_", " "), languages=_LANGS, installed=True, version=None,
                          description=f"openWakeWord {n}",
                          attribution=Attribution(name="openWakeWord", url="https://github.com/dscripka/openWakeWord"))
                for n in v.wake_words])
    handle = HandleProgram(
        name="hearth-handle", attribution=_HEARTH, installed=True, version=version,
        description="Home commands on a local fast path, everything else answered by Hearth's assistant",
        models=[HandleModel(name="hearth-home", languages=_LANGS, installed=True, version=version,
                            attribution=_HEARTH, description="Home intents and the local model")],
        supports_handled_streaming=v.wyoming_stream_handled, supports_home_control=True)
    return Info(asr=[asr], tts=[tts], wake=[wake], handle=[handle])


_ASR_DESCRIPTIONS = {
    "hybrid": "pocketsphinx with a grammar of this home's commands, checked by Whisper, and Whisper for "
              "everything else",
    "whisper": "Whisper (faster-whisper)",
    "pocketsphinx": "pocketsphinx with a grammar of this home's commands, open vocabulary otherwise",
}
_ASR_ATTRIBUTION = {
    "hybrid": Attribution(name="CMU Sphinx, OpenAI Whisper", url="https://github.com/SYSTRAN/faster-whisper"),
    "whisper": Attribution(name="OpenAI Whisper", url="https://github.com/SYSTRAN/faster-whisper"),
    "pocketsphinx": Attribution(name="CMU Sphinx", url="https://cmusphinx.github.io"),
}
