"""`hearth wyoming`: the voice stages as a Wyoming service for Home Assistant.

describe -> info; ping -> pong; transcribe + audio -> transcript-start/-chunk/-stop then transcript; synthesize (or synthesize-start/-chunk/-stop) -> audio;
detect + audio -> detection / not-detected; transcript -> handled / not-handled (or handled-start/-chunk/-stop).
Blocking work (decoding, synthesis, generation) runs in worker threads so one slow request never stalls the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar
from urllib.parse import urlparse

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped
from wyoming.wake import Detect, Detection, NotDetected

from ..errors import ConfigError, HearthError, SpeechToolError
from .audio import RATE, WIDTH
from .engines import build_synthesizer
from .sentences import SentenceChunker
from .stack import VoiceStack
from .tts import Synthesizer
from .wake import OpenWakeWordDetector
from .wyoming_info import build_info

log = logging.getLogger("hearth.voice.wyoming")
T = TypeVar("T")
_END = object()
SAMPLES_PER_CHUNK = 1024
ASR_WAIT_S = 30.0


class VoiceService:
    """What all connections share: the stack, and a lock for the (not thread-safe) speech recogniser, which one
    connection holds from `audio-start` to `audio-stop` so that decoding keeps pace with the incoming audio."""

    def __init__(self, stack: VoiceStack) -> None:
        self.stack = stack
        self.info_event = build_info(stack.settings, stack.asr_engine, getattr(stack.tts, "name", None)).event()
        self.asr_lock = threading.Lock()

    def new_wake_detector(self, names: list[str] | None) -> OpenWakeWordDetector:
        v = self.stack.settings.voice
        wanted = [n for n in v.wake_words if not names or n in names]
        if not wanted:
            raise ConfigError(f"none of the requested wake words {names} is enabled (enabled: {list(v.wake_words)})")
        return OpenWakeWordDetector(wanted, v.wake_threshold, v.wake_refractory_s)

    def synthesizer(self, voice: str | None) -> Synthesizer:
        """The stack's (cached) synthesizer for the configured voice; another voice name is built per request."""
        v = self.stack.settings.voice
        configured = v.piper_voice if v.tts_engine == "piper" else v.tts_voice
        if voice is None or voice in (configured, getattr(self.stack.tts, "name", None)):
            return self.stack.tts
        return build_synthesizer(self.stack.settings, [], voice)

    def begin_utterance(self) -> None:
        """Take the recogniser for one connection's utterance (released by `end_utterance`)."""
        if not self.asr_lock.acquire(timeout=ASR_WAIT_S):
            raise SpeechToolError(f"the speech recogniser stayed busy for {ASR_WAIT_S:g} s")
        try:
            self.stack.asr.start()
        except BaseException:
            self.asr_lock.release()
            raise

    def end_utterance(self) -> str:
        try:
            return self.stack.asr.finish().text
        finally:
            self.asr_lock.release()


async def _in_thread(iterator_fn: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Items of a blocking iterator produced in a worker thread, delivered as they come."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue()

    def pump() -> None:
        try:
            for item in iterator_fn():
                loop.call_soon_threadsafe(q.put_nowait, item)
        except BaseException as exc:  # noqa: BLE001 -- handed to the event loop, which raises it in the handler
            loop.call_soon_threadsafe(q.put_nowait, exc)
        loop.call_soon_threadsafe(q.put_nowait, _END)

    fut = loop.run_in_executor(None, pump)
    while (item := await q.get()) is not _END:
        if isinstance(item, BaseException):
            raise item
        yield item
    await fut


class HearthEventHandler(AsyncEventHandler):
    """One client connection."""

    def __init__(self, service: VoiceService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.mode: str | None = None  # "transcribe" or "detect": what the next audio is for
        self.converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=1)
        self.decoding = False  # this connection holds the recogniser and feeds it as audio arrives
        self.wake: OpenWakeWordDetector | None = None
        self.wake_names: list[str] | None = None
        self.detected = False
        self.tts_stream: tuple[SentenceChunker, Synthesizer] | None = None

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._dispatch(event)
        except HearthError as exc:
            await self.write_event(Error(text=exc.message, code=exc.code).event())
        except Exception as exc:  # one bad request must not take the server down; the client gets an error event
            log.exception("wyoming request failed")
            await self.write_event(Error(text=f"internal error: {exc.__class__.__name__}", code="internal").event())
        return True

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(self.service.info_event)
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(event.type):
            await self._drop_utterance()
            self.mode = "transcribe"
        elif Detect.is_type(event.type):
            await self._drop_utterance()
            names = Detect.from_event(event).names
            if self.wake is None or self.wake_names != names:  # building one costs ~0.5 s; reuse it per connection
                self.wake = await asyncio.to_thread(self.service.new_wake_detector, names)
                self.wake_names = names
            else:
                await asyncio.to_thread(self.wake.reset)
            self.mode, self.detected = "detect", False
        elif AudioStart.is_type(event.type):
            self.converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=1)
            if self.mode == "transcribe" and not self.decoding:
                await asyncio.to_thread(self.service.begin_utterance)
                self.decoding = True
        elif AudioChunk.is_type(event.type):
            await self._audio_chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._audio_stop()
        elif Synthesize.is_type(event.type):
            if self.tts_stream is None:  # inside a stream it only repeats the chunks, for older servers
                synth = Synthesize.from_event(event)
                voice = synth.voice.name if synth.voice else None
                await self._speak_text(synth.text, self.service.synthesizer(voice))
        elif SynthesizeStart.is_type(event.type) and self.service.stack.settings.voice.wyoming_stream_tts:
            start = SynthesizeStart.from_event(event)
            self.tts_stream = (SentenceChunker(), self.service.synthesizer(start.voice.name if start.voice else None))
        elif SynthesizeChunk.is_type(event.type) and self.tts_stream is not None:
            chunker, synth = self.tts_stream
            for sentence in chunker.push(SynthesizeChunk.from_event(event).text):
                await self._speak_sentences([sentence], synth)
        elif SynthesizeStop.is_type(event.type) and self.tts_stream is not None:
            chunker, synth = self.tts_stream
            self.tts_stream = None
            await self._speak_sentences(chunker.flush(), synth)
            await self.write_event(SynthesizeStopped().event())
        elif Transcript.is_type(event.type):
            await self._handle_transcript(Transcript.from_event(event).text)

    async def _drop_utterance(self) -> None:
        """Release the recogniser if this connection still holds it (a new request, or the client left)."""
        if self.decoding:
            self.decoding = False
            await asyncio.to_thread(self.service.end_utterance)

    async def disconnect(self) -> None:
        await self._drop_utterance()

    async def _audio_chunk(self, chunk: AudioChunk) -> None:
        pcm = self.converter.convert(chunk).audio
        if self.mode == "transcribe":
            if not self.decoding:  # audio without audio-start
                await asyncio.to_thread(self.service.begin_utterance)
                self.decoding = True
            await asyncio.to_thread(self.service.stack.asr.feed, pcm)
        elif self.mode == "detect" and self.wake is not None and not self.detected:
            hit = await asyncio.to_thread(self.wake.process, pcm)
            if hit is not None:
                self.detected = True
                await self.write_event(Detection(name=hit.name, timestamp=chunk.timestamp).event())

    async def _audio_stop(self) -> None:
        if self.mode == "transcribe":
            self.mode = None
            text = ""
            if self.decoding:
                self.decoding = False
                text = await asyncio.to_thread(self.service.end_utterance)
            if self.service.stack.settings.voice.wyoming_stream_asr:
                await self.write_event(TranscriptStart(language="en").event())
                if text:
                    await self.write_event(TranscriptChunk(text=text).event())
                await self.write_event(TranscriptStop().event())
            await self.write_event(Transcript(text=text, language="en").event())  # for clients that don't stream
        elif self.mode == "detect":
            if not self.detected:
                await self.write_event(NotDetected().event())
            self.mode = None

    async def _speak_text(self, text: str, synth: Synthesizer) -> None:
        chunker = SentenceChunker()
        await self._speak_sentences(chunker.push(text) + chunker.flush(), synth)

    async def _speak_sentences(self, sentences: list[str], synth: Synthesizer) -> None:
        """Each sentence as its own audio-start ... audio-stop, sent while it is synthesised."""
        for sentence in sentences:
            started = False
            async for pcm in _in_thread(lambda s=sentence: synth.synthesize(s)):
                if not started:
                    await self.write_event(AudioStart(rate=synth.sample_rate, width=WIDTH, channels=1).event())
                    started = True
                for i in range(0, len(pcm), SAMPLES_PER_CHUNK * WIDTH):
                    await self.write_event(AudioChunk(rate=synth.sample_rate, width=WIDTH, channels=1,
                                                      audio=pcm[i:i + SAMPLES_PER_CHUNK * WIDTH]).event())
            if started:
                await self.write_event(AudioStop().event())

    async def _handle_transcript(self, text: str) -> None:
        response = await asyncio.to_thread(self.service.stack.responder.respond, text)
        if response.source == "none":
            await self.write_event(NotHandled(text="I didn't hear anything.").event())
            return
        # A command's outcome (from the grammar or a tool call) is one sentence, and whether it was carried out is
        # known only once it has been said: it is sent whole, as `handled` or `not-handled`.
        whole = response.source == "intent" or response.acts or response.error is not None
        if whole or not self.service.stack.settings.voice.wyoming_stream_handled:
            sentences = [s async for s in _in_thread(response.sentences)]
            failed = response.error is not None or (response.result is not None and not response.result.ok)
            reply = (NotHandled if failed else Handled)(text=" ".join(sentences))
            await self.write_event(reply.event())
            return
        await self.write_event(HandledStart().event())
        async for sentence in _in_thread(response.sentences):
            await self.write_event(HandledChunk(text=sentence + " ").event())
        await self.write_event(HandledStop().event())


async def start_tcp(service: VoiceService, host: str, port: int) -> asyncio.Server:
    """Listen on TCP (port 0 picks a free one; read it from `server.sockets`)."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await HearthEventHandler(service, reader, writer).run()

    return await asyncio.start_server(on_connect, host=host, port=port)


async def serve(service: VoiceService, uri: str, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled: `tcp://HOST:PORT`, `unix://PATH` or `stdio://`."""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ConfigError(f"a tcp:// URI needs a host and a port: {uri}")
        server = await start_tcp(service, parsed.hostname, parsed.port)
        host, port = server.sockets[0].getsockname()[:2]
        if on_ready:
            on_ready(f"tcp://{host}:{port}")
        async with server:
            await server.serve_forever()
        return
    if parsed.scheme not in ("unix", "stdio"):
        raise ConfigError(f"unsupported Wyoming URI {uri!r}: use tcp://HOST:PORT, unix://PATH or stdio://")
    if on_ready:
        on_ready(uri)
    await AsyncServer.from_uri(uri).run(lambda r, w: HearthEventHandler(service, r, w))
