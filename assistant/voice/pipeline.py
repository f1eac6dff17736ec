"""The voice pipeline: audio source -> wake word -> command -> transcript -> reply -> speech -> audio sink, with
per-stage timings measured from the end-of-speech decision."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .asr import Transcript
from .audio_io import AudioSink, AudioSource
from .executors import IntentResult
from .listener import Listener, Utterance, reframe
from .responder import Response
from .stack import VoiceStack
from .wake import WakeDetection


@dataclass
class VoiceResult:
    """One turn of the pipeline."""

    wake: WakeDetection | None
    """The wake word heard (None without one)."""
    utterance: Utterance | None
    """The command audio and where it was found (None when no wake word was heard)."""
    transcript: Transcript | None = None
    """Speech-to-text output (None when there was no speech)."""
    response: Response | None = None
    """The reply (None when there was nothing to answer)."""
    timings: dict[str, float | None] = field(default_factory=dict)
    """Seconds; `*_at_s` are positions in the input audio, the rest are wall-clock times from the end-of-speech
    decision (see `VoicePipeline.handle`)."""
    reply_audio_s: float = 0.0
    """Duration of the reply audio written to the sink."""

    def to_json(self) -> dict[str, Any]:
        r, t = self.response, self.transcript
        return {
            "wake": None if self.wake is None else {"name": self.wake.name, "probability": round(self.wake.probability, 3),
                                                    "at_s": round(self.wake.time_s, 3)},
            "transcript": None if t is None else t.text,
            "transcript_source": None if t is None else t.source,
            "intent": None if r is None or r.intent is None else r.intent.to_json(),
            "intent_ok": None if r is None or r.result is None else r.result.ok,
            "answered_by": None if r is None else r.source,
            "tool_call": None if r is None or r.tool_call is None else {"name": r.tool_call.name,
                                                                       "arguments": r.tool_call.arguments},
            "reply": None if r is None or not r.spoken else r.text,
            "error": None if r is None else r.error,
            "ended_by": None if self.utterance is None else self.utterance.ended_by,
            "reply_audio_s": round(self.reply_audio_s, 3),
            "timings": {k: None if v is None else round(v, 4) for k, v in self.timings.items()},
        }


class VoicePipeline:
    """Runs the stack's components over an audio source."""

    def __init__(self, stack: VoiceStack) -> None:
        self.stack = stack
        self.listener = Listener(stack.vad, stack.wake, stack.asr, stack.settings.voice)

    def run(self, source: AudioSource, sink: AudioSink, once: bool = False) -> Iterator[VoiceResult]:
        """Turns until the source ends (or after the first with `once`). Without a wake word in a finite input,
        `optional` mode answers the input's first utterance; `required` mode yields one empty result."""
        mode = self.stack.settings.voice.wake_mode
        use_wake = self.stack.wake is not None and mode != "off"
        replay = use_wake and mode == "optional" and not source.live
        self.listener.reset(record=replay)
        frames = reframe(source.chunks())
        turns = 0
        while True:
            if use_wake:
                found = self.listener.wait_for_wake(frames)
                if found is None:
                    if replay and turns == 0:
                        yield self._replay_without_wake(sink)
                    elif turns == 0:
                        yield VoiceResult(wake=None, utterance=None)
                    return
                utterance = self.listener.collect(frames, found[0], found[1])
            else:
                utterance = self.listener.collect(frames, None, [])
            yield self.handle(utterance, sink)
            turns += 1
            if once or utterance.ended_by == "end_of_input":
                return

    def _replay_without_wake(self, sink: AudioSink) -> VoiceResult:
        recorded = self.listener.recorded or []
        self.listener.reset()
        return self.handle(self.listener.collect(iter(recorded), None, []), sink)

    def handle(self, utt: Utterance, sink: AudioSink) -> VoiceResult:
        """Recognise, answer and speak one utterance. Wall-clock timings start at `utt.eos_wall`."""
        t0 = utt.eos_wall
        timings: dict[str, float | None] = {
            "wake_at_s": None if utt.wake is None else utt.wake.time_s,
            "speech_start_at_s": utt.start_s, "speech_end_at_s": utt.speech_end_s, "end_of_speech_at_s": utt.eos_s,
            "eos_delay_s": None if utt.speech_end_s is None else utt.eos_s - utt.speech_end_s,
        }
        result = VoiceResult(wake=utt.wake, utterance=utt, timings=timings)
        transcript = self.stack.asr.finish()
        timings["asr_s"] = time.perf_counter() - t0
        if utt.start_s is None:
            return result
        result.transcript = transcript
        response = self.stack.responder.respond(transcript.text) if transcript.alternative is None else \
            _clarify(transcript)
        result.response = response
        timings["first_audio_s"] = self._speak(response, sink, result, t0)
        timings["first_text_s"] = None if response.first_text_wall is None else response.first_text_wall - t0
        if response.generated_wall is not None:
            timings["llm_done_s"] = response.generated_wall - t0
        timings["total_s"] = time.perf_counter() - t0
        if timings["first_audio_s"] is not None and timings["eos_delay_s"] is not None:
            timings["first_audio_from_speech_end_s"] = timings["first_audio_s"] + timings["eos_delay_s"]
        return result

    def _speak(self, response: Response, sink: AudioSink, result: VoiceResult, t0: float) -> float | None:
        """Synthesise each sentence as soon as it exists; return the time of the first audio."""
        tts, first_audio, n_bytes = self.stack.tts, None, 0
        for sentence in response.sentences():
            if "first_sentence_s" not in result.timings:
                result.timings["first_sentence_s"] = time.perf_counter() - t0
            t_sentence = time.perf_counter()
            for chunk in tts.synthesize(sentence):
                if first_audio is None:
                    first_audio = time.perf_counter()
                    result.timings["tts_first_chunk_s"] = first_audio - t_sentence
                sink.write(chunk, tts.sample_rate)
                n_bytes += len(chunk)
        result.reply_audio_s = n_bytes / (2 * tts.sample_rate)
        return None if first_audio is None else first_audio - t0


def _clarify(transcript: Transcript) -> Response:
    """Two decoders heard two different commands: ask, carry out neither."""
    a, b = (" ".join(t.strip(" .?!").split()) for t in (transcript.text, transcript.alternative or ""))
    speech = f"Sorry, did you say {a.lower()}, or {b.lower()}?"
    return Response(source="intent", result=IntentResult(False, speech), first_text_wall=time.perf_counter(),
                    _pieces=iter([speech]))
