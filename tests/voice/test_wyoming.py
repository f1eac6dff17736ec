"""The Wyoming server over real loopback TCP, driven by the `wyoming` package's own async client."""

from __future__ import annotations

import asyncio
import re

import pytest
from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped
from wyoming.wake import Detect, Detection, NotDetected

from assistant.voice.audio import rms_dbfs
from assistant.voice.stack import VoiceStack
from assistant.voice.wyoming_server import VoiceService, start_tcp

TIMEOUT = 120.0  # generous: CI machines are small; every read still has a deadline


def _service(stack: VoiceStack, **voice) -> VoiceService:
    settings = stack.settings.model_copy(update={"voice": stack.settings.voice.model_copy(update=voice)})
    return VoiceService(VoiceStack(**{**stack.__dict__, "settings": settings}))


def converse(service: VoiceService, script):
    """Start the server on an ephemeral port, connect, run `script(client)`, shut down."""

    async def main():
        server = await start_tcp(service, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                return await asyncio.wait_for(script(client), TIMEOUT)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


async def read_until(client, *types):
    """Events up to and including the first of `types`."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, "server closed the connection"
        events.append(event)
        if any(t.is_type(event.type) for t in types):
            return events


async def send_audio(client, pcm: bytes, rate=16000, chunk=2048):
    await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
    for i in range(0, len(pcm), chunk):
        await client.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i:i + chunk]).event())
    await client.write_event(AudioStop().event())


def _audio_of(events):
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    return b"".join(c.audio for c in chunks), {c.rate for c in chunks}


def test_describe_advertises_all_four_programs(stack):
    async def script(client):
        await client.write_event(Describe().event())
        return Info.from_event((await read_until(client, Info))[-1])

    info = converse(_service(stack), script)
    assert [p.name for p in info.asr] == ["hearth-asr"] and info.asr[0].models[0].languages == ["en"]
    assert info.asr[0].models[0].name == "hearth-hybrid" and info.asr[0].supports_transcript_streaming
    assert [v.name for v in info.tts[0].voices] == ["en_US-joe-medium", "en-us"]
    assert info.tts[0].supports_synthesize_streaming
    assert {m.name for m in info.wake[0].models} == {"okay_nabu", "hey_jarvis", "hey_mycroft", "alexa",
                                                     "hey_rhasspy"}
    assert info.handle[0].supports_handled_streaming and info.handle[0].models[0].name == "hearth-home"


def test_transcribe_audio_to_transcript(stack, speak, sound):
    async def script(client):
        await client.write_event(Transcribe(language="en").event())
        await send_audio(client, sound.silence(0.3) + speak("is the kitchen fan on") + sound.silence(0.5))
        return Transcript.from_event((await read_until(client, Transcript))[-1])

    assert converse(_service(stack), script).text == "is the kitchen fan on"


def test_transcripts_are_streamed_and_questions_go_to_whisper(stack, piper_speak, sound):
    async def script(client):
        await client.write_event(Transcribe(language="en").event())
        await send_audio(client, sound.silence(0.3) + piper_speak("how far away is the moon") + sound.silence(0.5))
        return await read_until(client, Transcript)

    events = converse(_service(stack), script)
    assert [e.type for e in events] == ["transcript-start", "transcript-chunk", "transcript-stop", "transcript"]
    assert TranscriptChunk.from_event(events[1]).text == Transcript.from_event(events[-1]).text
    assert Transcript.from_event(events[-1]).text.lower().rstrip("?.") == "how far away is the moon"


def test_ping_and_an_empty_utterance_keep_the_server_serving(stack, speak, sound):
    async def script(client):
        await client.write_event(Ping(text="hello").event())
        pong = (await read_until(client, Pong))[-1]
        await client.write_event(Transcribe().event())
        await send_audio(client, b"")  # audio-start, audio-stop, nothing in between
        empty = (await read_until(client, Transcript))[-1]
        await client.write_event(Transcribe().event())
        await client.write_event(AudioStop().event())  # not even audio-start
        bare = (await read_until(client, Transcript))[-1]
        await client.write_event(Transcribe().event())
        await send_audio(client, sound.silence(0.3) + speak("is the kitchen fan on") + sound.silence(0.5))
        after = (await read_until(client, Transcript))[-1]
        return pong, empty, bare, after

    pong, empty, bare, after = converse(_service(stack, wyoming_stream_asr=False), script)
    assert Pong.from_event(pong).text == "hello"
    assert Transcript.from_event(empty).text == "" and Transcript.from_event(bare).text == ""
    assert Transcript.from_event(after).text == "is the kitchen fan on"


def test_transcribe_converts_other_rates(stack, speak, sound):
    from assistant.voice.audio import resample

    pcm = resample(sound.silence(0.3) + speak("turn on the kitchen light") + sound.silence(0.5), 16000, 22050)

    async def script(client):
        await client.write_event(Transcribe().event())
        await send_audio(client, pcm, rate=22050)
        return Transcript.from_event((await read_until(client, Transcript))[-1])

    assert converse(_service(stack), script).text == "turn on the kitchen light"


def test_synthesize_to_audio(stack):
    async def script(client):
        await client.write_event(Synthesize(text="The kitchen light is on. The fan is off.").event())
        first = await read_until(client, AudioStop)
        second = await read_until(client, AudioStop)
        return first, second

    first, second = converse(_service(stack), script)
    assert AudioStart.is_type(first[0].type) and AudioStart.is_type(second[0].type)  # one audio stream per sentence
    for events in (first, second):
        pcm, rates = _audio_of(events)
        assert rates == {22050} and len(pcm) > 22050 and rms_dbfs(pcm) > -35


def test_streaming_synthesis(stack):
    async def script(client):
        await client.write_event(SynthesizeStart().event())
        for piece in ["The living ro", "om light is ", "now on. It is", " twenty degrees."]:
            await client.write_event(SynthesizeChunk(text=piece).event())
        # Home Assistant repeats the whole text for servers without streaming; a streaming server ignores it
        await client.write_event(Synthesize(text="The living room light is now on. It is twenty degrees.").event())
        await client.write_event(SynthesizeStop().event())
        return await read_until(client, SynthesizeStopped)

    events = converse(_service(stack), script)
    assert sum(AudioStart.is_type(e.type) for e in events) == 2  # two sentences, no duplicate for `synthesize`
    pcm, _ = _audio_of(events)
    assert rms_dbfs(pcm) > -35 and SynthesizeStopped.is_type(events[-1].type)


def test_detect_wake_word(stack, wake_audio, sound):
    async def script(client):
        await client.write_event(Detect(names=["alexa", "hey_jarvis"]).event())
        await send_audio(client, sound.silence(0.5) + wake_audio("alexa") + sound.silence(1.0))
        hit = (await read_until(client, Detection, NotDetected))[-1]
        await client.write_event(Detect(names=["alexa", "hey_jarvis"]).event())
        await send_audio(client, sound.silence(0.5) + sound.noise(2.0, -30, seed=9) + sound.silence(0.5))
        miss = (await read_until(client, Detection, NotDetected))[-1]
        return hit, miss

    hit, miss = converse(_service(stack), script)
    assert Detection.is_type(hit.type) and Detection.from_event(hit).name == "alexa"
    assert NotDetected.is_type(miss.type)


def test_detect_unknown_wake_word_is_an_error_event(stack):
    async def script(client):
        await client.write_event(Detect(names=["computer"]).event())
        return (await read_until(client, Error))[-1]

    error = Error.from_event(converse(_service(stack), script))
    assert error.code == "invalid_config" and "computer" in error.text


def test_handle_command(stack):
    async def script(client):
        await client.write_event(Transcript(text="Turn on the bathroom light").event())
        handled = (await read_until(client, Handled, NotHandled))[-1]
        await client.write_event(Transcript(text="turn on the bathroom fan").event())
        refused = (await read_until(client, Handled, NotHandled))[-1]
        await client.write_event(Transcript(text="").event())
        empty = (await read_until(client, Handled, NotHandled))[-1]
        return handled, refused, empty

    handled, refused, empty = converse(_service(stack), script)
    assert Handled.is_type(handled.type) and Handled.from_event(handled).text == "Turned on the bathroom light."
    assert NotHandled.is_type(refused.type) and "couldn't find a fan" in NotHandled.from_event(refused).text
    assert NotHandled.is_type(empty.type)


@pytest.mark.parametrize("streaming", [True, False])
def test_handle_question_with_the_assistant(stack, streaming):
    async def script(client):
        await client.write_event(Transcript(text="What is the capital of France?").event())
        return await read_until(client, HandledStop, Handled, NotHandled)

    events = converse(_service(stack, wyoming_stream_handled=streaming), script)
    if streaming:
        assert HandledStart.is_type(events[0].type) and HandledStop.is_type(events[-1].type)
        text = "".join(HandledChunk.from_event(e).text for e in events if HandledChunk.is_type(e.type))
        assert sum(HandledChunk.is_type(e.type) for e in events) >= 1
    else:
        assert [e.type for e in events] == ["handled"]
        text = Handled.from_event(events[0]).text
    assert text.strip() and "Sorry" not in text


def test_a_client_leaving_mid_utterance_frees_the_recogniser(stack, speak, sound):
    service = _service(stack)

    async def main():
        server = await start_tcp(service, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with AsyncTcpClient("127.0.0.1", port) as quitter:
                await quitter.write_event(Transcribe().event())
                await quitter.write_event(AudioStart(rate=16000, width=2, channels=1).event())
                await quitter.write_event(AudioChunk(rate=16000, width=2, channels=1,
                                                     audio=speak("turn on")[:8000]).event())
                await asyncio.sleep(0.5)  # the server takes the recogniser for this utterance
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Transcribe().event())
                await send_audio(client, sound.silence(0.3) + speak("is the kitchen fan on") + sound.silence(0.5))
                event = (await asyncio.wait_for(read_until(client, Transcript), 20))[-1]
                return Transcript.from_event(event).text
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == "is the kitchen fan on"


def test_handle_acts_on_an_utterance_the_grammar_cannot_parse(stack):
    """The `handle` program gives such an utterance to the model with the home's tools; the call's outcome comes
    back whole, as `handled` when it was carried out (the executor's own sentence) or `not-handled`."""
    async def script(client):
        await client.write_event(Transcript(text="It is much too dark in the kitchen.").event())
        return await read_until(client, Handled, NotHandled)

    from assistant.voice.executors import SimulatedHome
    from assistant.voice.responder import Responder

    home = SimulatedHome(stack.home)  # its own: the session's home keeps its state for the other tests
    responder = Responder(stack.intents, home, stack.responder._assistant, stack.settings.voice,
                          stack.settings.sampling)
    [reply] = converse(VoiceService(VoiceStack(**{**stack.__dict__, "executor": home, "responder": responder})),
                       script)
    if Handled.is_type(reply.type):  # carried out: the executor's own sentence
        text = Handled.from_event(reply).text
        assert re.fullmatch(r"(Turned (on|off)|Set) the kitchen [a-z ]+( to \d+ (percent|degrees))?\.|(The|It is) .+\.",
                            text), text
    else:  # a call outside the room named is refused, never carried out elsewhere
        assert NotHandled.from_event(reply).text == "I'm not sure what to do in the kitchen."
