"""Speech-to-text and end-of-speech detection on real synthesised speech, silence and noise."""

from __future__ import annotations

import pytest

from assistant.settings import load_settings
from assistant.voice.asr import PocketsphinxRecognizer, transcribe
from assistant.voice.audio import FRAME_S
from assistant.voice.grammar import build_jsgf, vocabulary
from assistant.voice.listener import Listener, reframe

# Every intent type, across rooms and devices, in the phrasings people use.
COMMANDS = [
    "turn on the kitchen light",
    "switch off the fan in the bedroom",
    "turn the bathroom heater on",
    "turn off the living room lamp",
    "switch on the office desk lamp",
    "set the living room light to fifty percent",
    "dim the bedroom light to twenty percent",
    "set the brightness of the bathroom light to eighty percent",
    "set the bedroom thermostat to twenty two degrees",
    "set the temperature in the living room to nineteen degrees",
    "is the kitchen fan on",
    "is the bedroom light on",
    "what is the temperature in the office",
    "what is the living room thermostat set to",
    "what is the brightness of the kitchen light",
    "turn on the heating in the bedroom",
]
QUESTIONS = ["what is the capital of france", "tell me a joke about cats", "how far away is the moon",
             "who wrote romeo and juliet"]


@pytest.fixture(scope="module")
def grammar(stack):
    """pocketsphinx alone (the grammar and its rejection test, without Whisper's check)."""
    v = stack.settings.voice
    return PocketsphinxRecognizer(build_jsgf(stack.home), vocabulary(stack.home), reject_margin=v.asr_reject_margin)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_transcripts_give_the_right_intent(grammar, stack, speak, sound, command):
    pcm = sound.silence(0.3) + speak(command) + sound.silence(0.6)
    transcript = transcribe(grammar, pcm)
    assert transcript.source == "grammar", transcript
    assert stack.intents.recognize(transcript.text) == stack.intents.recognize(command), transcript.text


@pytest.mark.parametrize("question", QUESTIONS)
def test_free_questions_fall_back_to_open_vocabulary(grammar, stack, speak, sound, question):
    transcript = transcribe(grammar, sound.silence(0.3) + speak(question) + sound.silence(0.6))
    assert transcript.source == "open" and transcript.text
    assert stack.intents.recognize(transcript.text) is None


def test_silence_and_noise_are_not_commands(grammar, stack, sound):
    for pcm in (sound.silence(2.0), sound.noise(2.0, -30, seed=5), sound.noise(2.0, -20, seed=6, colour="brown")):
        assert transcribe(grammar, pcm).source != "grammar"
    # and through the full recogniser (Whisper included) they are no command either
    for pcm in (sound.silence(2.0), sound.noise(2.0, -30, seed=5)):
        transcript = transcribe(stack.asr, pcm)
        assert stack.intents.recognize(transcript.text) is None, transcript


def _listener(stack, **voice):
    settings = load_settings(voice=voice).voice
    return Listener(stack.vad, stack.wake, stack.asr, settings)


def test_wake_then_command_is_segmented_after_the_wake_phrase(stack, speak, wake_audio, sound):
    wake = wake_audio("hey_jarvis")
    command = speak("turn on the kitchen light")
    pcm = sound.silence(0.5) + wake + sound.silence(0.5) + command + sound.silence(1.5)
    listener = _listener(stack)
    listener.reset()
    frames = reframe([pcm])
    hit, backlog = listener.wait_for_wake(frames)
    utt = listener.collect(frames, hit, backlog)
    wake_end = 0.5 + len(wake) / 32000
    assert hit.name == "hey_jarvis" and utt.ended_by == "command"
    assert wake_end <= utt.start_s <= wake_end + 0.5 + 0.2
    assert abs(utt.speech_end_s - (wake_end + 0.5 + len(command) / 32000)) < 0.5
    # a complete command ends after the short command pause, not the trailing silence or the end of the input
    assert utt.eos_s - utt.speech_end_s == pytest.approx(0.2, abs=2 * FRAME_S)
    assert stack.asr.finish().text == "turn on the kitchen light"


def test_command_already_under_way_at_a_late_detection(stack, speak, wake_audio, sound):
    """openWakeWord may report okay_nabu ~0.6 s after the phrase; a command started in between is kept whole."""
    pcm = sound.silence(0.5) + wake_audio("okay_nabu") + sound.silence(0.3) + speak(
        "set the living room light to fifty percent") + sound.silence(1.5)
    listener = _listener(stack)
    listener.reset()
    frames = reframe([pcm])
    hit, backlog = listener.wait_for_wake(frames)
    listener.collect(frames, hit, backlog)
    heard = stack.asr.finish().text
    assert stack.intents.recognize(heard) == stack.intents.recognize("set the living room light to fifty percent")


def test_no_speech_after_the_wake_word_times_out(stack, wake_audio, sound):
    pcm = sound.silence(0.5) + wake_audio("alexa") + sound.silence(4.0)
    listener = _listener(stack, listen_timeout_s=2.0)
    listener.reset()
    frames = reframe([pcm])
    hit, backlog = listener.wait_for_wake(frames)
    utt = listener.collect(frames, hit, backlog)
    stack.asr.finish()
    assert utt.ended_by == "listen_timeout" and utt.start_s is None


def test_long_utterances_are_cut(stack, speak, sound):
    pcm = sound.silence(0.3) + speak("this sentence keeps going on and on without any pause for a long time") * 3
    listener = _listener(stack, max_utterance_s=3.0)
    listener.reset()
    utt = listener.collect(reframe([pcm]), None, [])
    stack.asr.finish()
    assert utt.ended_by == "max_length" and utt.eos_s - utt.start_s == pytest.approx(3.0, abs=0.1)
