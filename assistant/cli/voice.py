"""`hearth voice` (the offline voice pipeline on a file, a raw PCM stream or the microphone) and `hearth wyoming`
(the same stages served to Home Assistant over the Wyoming protocol)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidRequestError
from ..settings import Settings
from .common import cli_errors, err, out, print_json
from .options import settings_command

GROUPS = ("model", "engine", "sampling", "voice")


def _with_home(settings: Settings, home: Path | None) -> Settings:
    if home is None:
        return settings
    return settings.model_copy(update={"voice": settings.voice.model_copy(update={"home_file": home})})


async def _until_signalled(work: Awaitable[None]) -> None:
    """Await `work` until SIGINT or SIGTERM, then cancel it.

    Why not KeyboardInterrupt: the signal can land on one of llama.cpp's or the speech models' threads while the
    event loop sleeps in select() with no timeout, and before Python 3.11 nothing then wakes the loop to raise it
    (the server hung on Ctrl-C). A loop signal handler writes to the loop's wake-up fd, whichever thread gets it."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        err.print("stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _background_assistant(settings: Settings):
    """Start loading the model (pulling the default one first if needed) without holding up commands."""
    from ..runtime import build_assistant, open_store
    from ..voice.responder import warm_up
    from ..voice.stack import BackgroundAssistant

    def load(cancel):
        store = open_store(settings)
        if settings.model == store.catalog.default and store.get(settings.model) is None:
            err.print(f"downloading the default model {settings.model} for spoken answers …")
            store.pull(settings.model)
        from ..voice.home import load_home

        home = load_home(settings.voice.home_file)
        return warm_up(build_assistant(settings), settings.voice, settings.sampling, cancel, home)

    return BackgroundAssistant(load)


def _source(input_path: str | None, mic: bool):
    from ..voice.audio_io import MicSource, RawStreamSource, WavFileSource

    if mic == (input_path is not None):
        raise InvalidRequestError("give exactly one of --input FILE.wav (or - for raw PCM on stdin) and --mic",
                                  param="input")
    if mic:
        return MicSource()
    if input_path == "-":
        return RawStreamSource(sys.stdin.buffer)
    return WavFileSource(Path(input_path))


def _sink(output_path: str | None):
    from ..voice.audio_io import RawStreamSink, SpeakerSink, WavFileSink

    if output_path is None:
        return SpeakerSink()
    if output_path == "-":
        return RawStreamSink(sys.stdout.buffer)
    return WavFileSink(Path(output_path))


def _print_human(data: dict, stdout_taken: bool) -> None:
    wake, t = data["wake"], data["timings"]
    if wake is not None:
        err.print(f"wake word: {wake['name']} (p={wake['probability']:.2f} at {wake['at_s']:.2f} s)")
    elif data["ended_by"] is None:
        err.print("no wake word heard")
        return
    if data["transcript"] is None:
        err.print("no speech after the wake word")
        return
    err.print(f"heard: {data['transcript']!r} ({data['transcript_source']}, ended by {data['ended_by']})")
    if data["intent"] is not None:
        i = data["intent"]
        err.print(f"intent: {i['action']} {', '.join(i['device_ids']) or '(no such device)'}"
                  + (f" = {i['value']}" if i["value"] is not None else ""))
    if data["error"]:
        err.print(f"[yellow]note:[/] {data['error']}", markup=True)
    (err if stdout_taken else out).print(data["reply"] or "")  # raw audio may own stdout
    ms = {k: (f"{v * 1000:.0f} ms" if v is not None else "-") for k, v in t.items()}
    err.print(f"[dim]after end of speech: asr {ms.get('asr_s', '-')}, first text {ms.get('first_text_s', '-')}, "
              f"first audio {ms.get('first_audio_s', '-')} (end-of-speech detection took "
              f"{ms.get('eos_delay_s', '-')})[/dim]", markup=True)


@cli_errors
@settings_command(*GROUPS)
def voice(input_path: Annotated[str | None, typer.Option(
              "--input", "-i", help="WAV file to listen to, or - for raw 16 kHz 16-bit mono PCM on stdin.")] = None,
          output_path: Annotated[str | None, typer.Option(
              "--output", "-o", help="WAV file for the spoken reply, or - for raw 16 kHz PCM on stdout "
              "(default: the speaker).")] = None,
          mic: Annotated[bool, typer.Option("--mic", help="Listen to the microphone (until Ctrl-C).")] = False,
          home: Annotated[Path | None, typer.Option(
              "--home", help="Home description TOML (default: the shipped example home).")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (one JSON object "
                                                "per turn).")] = False,
          *, settings: Settings) -> None:
    """Wake word -> speech-to-text -> home command or assistant answer -> speech, all offline."""
    from ..voice.pipeline import VoicePipeline
    from ..voice.stack import build_stack

    settings = _with_home(settings, home)
    source = _source(input_path, mic)
    if as_json and output_path == "-":
        raise InvalidRequestError("--json and --output - both need stdout", param="output")
    try:
        sink = _sink(output_path)
    except BaseException:
        source.close()
        raise
    assistant = _background_assistant(settings)
    stack = None
    try:
        stack = build_stack(settings, assistant=assistant)  # a bad home file fails here, before the model loads
        for note in stack.notes:
            err.print(f"[yellow]note:[/] {note}", markup=True)
        assistant.start()
        once = input_path not in (None, "-")
        for result in VoicePipeline(stack).run(source, sink, once=once):
            data = result.to_json()
            if as_json and once:
                print_json(data)
            elif as_json:  # a stream of turns: one JSON object per line
                sys.stdout.write(json.dumps(data) + "\n")
                sys.stdout.flush()
            else:
                _print_human(data, stdout_taken=output_path == "-")
    finally:
        sink.close()
        source.close()
        assistant.close()
        if stack is not None:
            stack.close()

@cli_errors
@settings_command(*GROUPS)
def wyoming(uri: Annotated[str | None, typer.Option(
                "--uri", help="Where to listen: tcp://HOST:PORT, unix://PATH or stdio:// "
                "(default: voice.wyoming_uri, tcp://127.0.0.1:10700).")] = None,
            home: Annotated[Path | None, typer.Option("--home", help="Home description TOML.")] = None,
            *, settings: Settings) -> None:
    """Serve speech-to-text, text-to-speech, wake word and conversation to Home Assistant (Wyoming)."""
    from ..voice.stack import build_stack
    from ..voice.wyoming_server import VoiceService, serve

    settings = _with_home(settings, home)
    assistant = _background_assistant(settings)
    stack = None
    try:
        stack = build_stack(settings, assistant=assistant, with_wake=False)
        for note in stack.notes:
            err.print(f"[yellow]note:[/] {note}", markup=True)
        service = VoiceService(stack)
        assistant.start()
        asyncio.run(_until_signalled(serve(service, uri or settings.voice.wyoming_uri,
                                           on_ready=lambda where: err.print(f"Wyoming server listening on {where}"))))
    except OSError as exc:
        raise InvalidRequestError(f"cannot listen on {uri or settings.voice.wyoming_uri}: {exc.strerror or exc}",
                                  param="uri") from None
    finally:
        assistant.close()
        if stack is not None:
            stack.close()


def register(app: typer.Typer) -> None:
    app.command("voice")(voice)
    app.command("wyoming")(wyoming)
