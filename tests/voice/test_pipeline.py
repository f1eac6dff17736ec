"""The whole pipeline on WAV files: wake word, command or question, reply audio."""

from __future__ import annotations

import time
import wave

import pytest

from assistant.settings import load_settings
from assistant.voice.audio import rms_dbfs
from assistant.voice.audio_io import WavFileSink, WavFileSource
from assistant.voice.pipeline import VoicePipeline
from assistant.voice.stack import VoiceStack


class RecordingSink(WavFileSink):
    """A WAV sink that also notes when the first audio arrived."""

    first_write: float | None = None

    def write(self, pcm: bytes, rate: int) -> None:
        if self.first_write is None:
            self.first_write = time.perf_counter()
        super().write(pcm, rate)


def _run(stack: VoiceStack, path, out_path, **voice):
    if voice:
        settings = stack.settings.model_copy(update={"voice": stack.settings.voice.model_copy(update=voice)})
        stack = VoiceStack(**{**stack.__dict__, "settings": settings})
    sink = RecordingSink(out_path)
    results = list(VoicePipeline(stack).run(WavFileSource(path), sink, once=True))
    sink.close()
    assert len(results) == 1
    return results[0], sink


def _wav_stats(path):
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() > 8000
        frames = w.readframes(w.getnframes())
        return w.getnframes() / w.getframerate(), rms_dbfs(frames)


def test_wake_word_and_command(stack, speak, wake_audio, sound, write_wav, tmp_path):
    path = write_wav("command.wav", sound.silence(0.4) + wake_audio("hey_jarvis") + sound.silence(0.5)
                     + speak("turn off the bedroom fan") + sound.silence(1.2))
    result, _ = _run(stack, path, tmp_path / "reply.wav")
    data = result.to_json()
    assert data["wake"]["name"] == "hey_jarvis"
    assert data["transcript"] == "turn off the bedroom fan" and data["transcript_source"] == "grammar"
    assert data["intent"]["action"] == "turn_off" and data["intent"]["device_ids"] == ["bedroom_fan"]
    assert data["reply"] == "Turned off the bedroom fan." and data["answered_by"] == "intent"
    assert data["timings"]["first_audio_s"] is not None and data["timings"]["first_audio_s"] >= 0
    # a complete command ends the utterance after the short command pause, not the full trailing silence
    assert data["ended_by"] == "command"
    assert data["timings"]["eos_delay_s"] == pytest.approx(stack.settings.voice.command_silence_s, abs=0.07)
    duration, loudness = _wav_stats(tmp_path / "reply.wav")
    assert duration > 0.8 and loudness > -35  # a spoken sentence, not silence


def test_question_is_answered_by_the_assistant(stack, speak, sound, write_wav, tmp_path):
    path = write_wav("question.wav", sound.silence(0.3) + speak("tell me about the history of paris")
                     + sound.silence(1.2))
    result, _ = _run(stack, path, tmp_path / "answer.wav")
    data, response = result.to_json(), result.response
    assert data["wake"] is None and data["intent"] is None and data["answered_by"] == "assistant"
    assert data["transcript"] and data["reply"] and data["error"] is None
    duration, loudness = _wav_stats(tmp_path / "answer.wav")
    assert duration > 1.0 and loudness > -35
    assert response.generated_wall is not None and data["timings"]["llm_done_s"] is not None


def test_speech_starts_before_generation_ends(stack):
    """The first sentence is handed to TTS while the model is still generating the rest."""
    response = stack.responder.respond("Tell me three short facts about Paris.")
    pieces = []
    for sentence in response.sentences():
        pieces.append((sentence, time.perf_counter()))
    assert len(pieces) >= 2, pieces
    assert response.generated_wall is not None and pieces[0][1] < response.generated_wall


def test_required_wake_word_missing_means_no_turn(stack, speak, sound, write_wav, tmp_path):
    path = write_wav("nowake.wav", sound.silence(0.3) + speak("turn on the kitchen light") + sound.silence(1.0))
    result, _ = _run(stack, path, tmp_path / "none.wav", wake_mode="required")
    data = result.to_json()
    assert (data["wake"], data["transcript"], data["intent"], data["reply"]) == (None, None, None, None)
    assert _wav_stats(tmp_path / "none.wav")[0] == 0  # still a valid (empty) WAV


def test_silence_only_gives_no_transcript(stack, sound, write_wav, tmp_path):
    result, _ = _run(stack, write_wav("silence.wav", sound.silence(3.0)), tmp_path / "s.wav", wake_mode="off")
    data = result.to_json()
    assert data["transcript"] is None and data["reply"] is None and data["ended_by"] == "end_of_input"


def test_without_a_model_questions_get_an_apology(speak, sound, write_wav, tmp_path):
    from assistant.voice.stack import build_stack

    settings = load_settings(voice={"wake_mode": "off", "asr_engine": "pocketsphinx", "tts_engine": "espeak-ng"})
    stack = build_stack(settings, assistant=None)
    path = write_wav("q.wav", sound.silence(0.3) + speak("what is the capital of france") + sound.silence(1.0))
    try:
        result, _ = _run(stack, path, tmp_path / "q_out.wav")
    finally:
        stack.close()
    data = result.to_json()
    assert data["answered_by"] == "assistant" and data["reply"] == "Sorry, I can't answer that right now."
    assert "no assistant model" in data["error"]


def test_raw_pcm_in_and_out(stack, speak, wake_audio, sound):
    import io

    from assistant.voice.audio_io import RawStreamSink, RawStreamSource

    pcm = sound.silence(0.4) + wake_audio("hey_rhasspy") + sound.silence(0.5) + speak("is the kitchen fan on") \
        + sound.silence(1.0)
    out = io.BytesIO()
    results = list(VoicePipeline(stack).run(RawStreamSource(io.BytesIO(pcm)), RawStreamSink(out)))
    assert [r.to_json()["transcript"] for r in results] == ["is the kitchen fan on"]
    reply = out.getvalue()
    assert len(reply) / 32000 > 0.8 and rms_dbfs(reply) > -35  # 16 kHz 16-bit mono speech
