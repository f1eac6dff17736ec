#!/usr/bin/env python3
"""The voice pipeline end to end on synthesised speech, in two voices (espeak-ng and Piper): utterance -> reply audio.

Measures
  - word error rate of speech-to-text on open questions (QUESTIONS, 36) and on commands;
  - intent accuracy on home commands phrased in ways the speech grammar was not built from (COMMANDS: polite
    forms, plurals, "all", reordered targets, numbers; the expected intent is what the text itself means);
  - commands naming rooms/devices the home lacks (UNKNOWN): how many were carried out anyway (must be 0);
  - latency on the user's clock: from the end of the spoken audio (the last sample above -45 dBFS, so the
    trailing silence the end-of-speech detector waits for is included) to the first reply audio, p50/p95, with the
    mean share of each stage: endpointing (audio time until the end of speech was decided), speech-to-text after
    that decision, the reply's first sentence (intent or LLM), and synthesis of its first audio;
  - Whisper's real-time factor (decode seconds per second of audio) where it ran.

The audio is fed as fast as it is read up to the end of speech and at real time after it, so the latency is wall
time on the user's clock (work begun during the trailing silence overlaps it, as it would live). Numbers taken on a loaded machine say so in the JSON
(`loadavg_*`). Compare engines with --asr.

    python scripts/bench_voice.py [--asr hybrid|whisper|pocketsphinx] [--model ID] [--out bench_voice.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_voice_sets import COMMANDS, DEV_COMMANDS, QUESTIONS, UNKNOWN

from scripts.benchlib import pct

VOICES = ("espeak", "piper")
SILENCE_DBFS = -45.0


def espeak(text: str) -> bytes:
    from assistant.voice.audio import normalize_pcm

    wav = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True).stdout
    return normalize_pcm(wav[44:], 22050, 2, 1)


def speech_end_s(pcm: bytes) -> float:
    """Seconds to the end of the last 10 ms window above SILENCE_DBFS (synthesisers pad their output)."""
    import numpy as np

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    win = 160
    n = len(x) // win
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms) > SILENCE_DBFS)[0]
    return 0.0 if loud.size == 0 else (loud[-1] + 1) * win / 16000


class Source:
    """The utterance's audio: as fast as it is read up to the end of speech, then at real time, so that work the
    pipeline does during the trailing silence (Whisper starts at a pause) overlaps it as it would live."""

    live = False

    def __init__(self, pcm: bytes, pace_from_s: float) -> None:
        self.pcm, self.pace_from = pcm, int(pace_from_s * 16000) * 2
        self.end_wall: float | None = None
        """`perf_counter()` when the audio reached the end of speech (the user's clock starts here)."""

    def chunks(self):
        step = 1024  # 32 ms
        for i in range(0, len(self.pcm), step):
            if i + step > self.pace_from:
                now = time.perf_counter()
                if self.end_wall is None:
                    self.end_wall = now - max(0, i - self.pace_from) / 32000
                due = self.end_wall + (i - self.pace_from) / 32000
                if due > now:
                    time.sleep(due - now)
            yield self.pcm[i:i + step]

    def close(self) -> None:
        pass


class CountingSink:
    def __init__(self) -> None:
        self.samples = 0

    def write(self, pcm: bytes, rate: int) -> None:
        self.samples += len(pcm) // 2

    def close(self) -> None:
        pass


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(word edits, reference words) after normalising both (case, punctuation, numbers, contractions)."""
    from assistant.voice.textnorm import normalize_words

    r, h = normalize_words(ref), normalize_words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[:], i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return d[len(h)], len(r)


def build(args):
    from assistant.assistant import Assistant
    from assistant.runtime import load_engine, open_store
    from assistant.settings import load_settings
    from assistant.voice.responder import warm_up
    from assistant.voice.stack import build_stack

    voice = {"asr_engine": args.asr, "wake_mode": "off"}
    if args.no_tts_cache:
        voice["tts_cache_size"] = 0
    settings = load_settings(model=args.model, engine={"n_ctx": 2048, "n_threads": args.threads}, voice=voice)
    store = open_store(settings)
    for name in (settings.model, "whisper-base", "piper-joe-medium"):
        if store.get(name) is None and (name in store.catalog.entries or name in store.catalog.speech):
            store.pull(name)
    assistant = Assistant(load_engine(settings), settings)
    warm_up(assistant, settings.voice, settings.sampling)
    stack = build_stack(settings, assistant=lambda: assistant)
    for thread, _ in stack.background:
        thread.join()  # the replies cached at start are ready before a user could speak
    return stack, assistant


def piper_voice(stack):
    from assistant.voice.audio import normalize_pcm
    from assistant.voice.engines import speech_model_path
    from assistant.voice.piper_tts import PiperSynthesizer

    # without Piper's sampled noise: every run says each item the same way
    synth = PiperSynthesizer(speech_model_path(stack.settings, stack.settings.voice.piper_voice), variation=False)
    return lambda text: normalize_pcm(b"".join(synth.synthesize(text)), synth.sample_rate, 2, 1)


def run_item(pipeline, speak, kind: str, voice: str, text: str) -> dict:
    from assistant.voice.executors import SimulatedHome

    lead, speech, tail = bytes(int(0.4 * 16000) * 2), speak(text), bytes(int(1.5 * 16000) * 2)
    end_s = 0.4 + speech_end_s(speech)
    asr = pipeline.stack.asr
    whisper = getattr(asr, "whisper", asr)
    if hasattr(whisper, "last_stats"):
        whisper.last_stats = None
    if hasattr(asr, "second_opinion"):
        asr.second_opinion.last_loss = None
    executor = pipeline.stack.executor
    before = {k: dict(v) for k, v in executor.states.items()} if isinstance(executor, SimulatedHome) else None
    source = Source(lead + speech + tail, end_s)
    result = next(iter(pipeline.run(source, CountingSink(), once=True)))
    data, t = result.to_json(), result.timings
    expected = pipeline.stack.intents.recognize(text)
    got = result.response.intent if result.response is not None else None
    changed = before is not None and executor.states != before
    if before is not None:  # every item starts from the same home
        executor.states.clear()
        executor.states.update(before)
    edits, words = word_errors(text, data["transcript"] or "")
    stats = getattr(whisper, "last_stats", None)
    wait = None if result.utterance is None or source.end_wall is None else \
        result.utterance.eos_wall - source.end_wall
    user = None if t.get("first_audio_s") is None or wait is None else wait + t["first_audio_s"]
    readings = getattr(asr, "last_readings", (None, None))
    arbiter = getattr(asr, "second_opinion", None)
    return {"kind": kind, "voice": voice, "text": text, "transcript": data["transcript"],
            "source": data["transcript_source"], "grammar_text": readings[0], "whisper_text": readings[1],
            "name_swap_loss": getattr(arbiter, "last_loss", None),
            "expected_intent": None if expected is None else expected.to_json(),
            "intent": None if got is None else got.to_json(), "ended_by": data["ended_by"], "edits": edits, "words": words,
            "intent_ok": got == expected, "executed_unknown": kind == "unknown" and changed,
            "answered_by": data["answered_by"], "reply": data["reply"], "error": data["error"],
            "whisper_rtf": None if stats is None else stats.rtf,
            "whisper_window_s": None if stats is None else stats.window_frames / 100,
            "stages": {"endpointing": wait, "asr": t.get("asr_s"),
                       "first_sentence": None if t.get("first_sentence_s") is None else
                       t["first_sentence_s"] - t.get("asr_s", 0.0),
                       "tts_first_audio": t.get("tts_first_chunk_s")},
            "user_latency_s": user, "timings": data["timings"]}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for kind in ("question", "command", "unknown"):
        for voice in (*VOICES, "all"):
            sel = [r for r in rows if r["kind"] == kind and voice in ("all", r["voice"])]
            if not sel:
                continue
            lat = [r["user_latency_s"] for r in sel if r["user_latency_s"] is not None]
            rtf = [r["whisper_rtf"] for r in sel if r["whisper_rtf"] is not None]
            g = {"n": len(sel), "wer": sum(r["edits"] for r in sel) / max(1, sum(r["words"] for r in sel)),
                 "intent_accuracy": sum(r["intent_ok"] for r in sel) / len(sel),
                 "executed_unknown": sum(r["executed_unknown"] for r in sel),
                 "latency_p50_s": pct(lat, 0.5), "latency_p95_s": pct(lat, 0.95),
                 "whisper_rtf_p50": pct(rtf, 0.5), "whisper_runs": len(rtf),
                 "sources": {s: sum(r["source"] == s for r in sel) for s in {r["source"] for r in sel}}}
            stages = {k: [r["stages"][k] or 0.0 for r in sel if r["user_latency_s"] is not None]
                      for k in ("endpointing", "asr", "first_sentence", "tts_first_audio")}
            total = sum(sum(v) for v in stages.values()) or 1.0
            g["stage_mean_s"] = {k: sum(v) / max(1, len(v)) for k, v in stages.items()}
            g["stage_share"] = {k: sum(v) / total for k, v in stages.items()}
            out[f"{kind}/{voice}"] = g
    return out


def print_table(summary: dict, asr: str) -> None:
    def ms(v):
        return "-" if v is None else f"{v * 1000:.0f}"

    print(f"\nasr engine: {asr}")
    print(f"{'set/voice':17} {'n':>3} {'WER':>6} {'intent':>7} {'unsafe':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'RTF':>5}  share: endpoint / asr / reply text / tts")
    for key, g in summary.items():
        share = " / ".join(f"{g['stage_share'][k] * 100:.0f}%" for k in g["stage_share"])
        rtf = "-" if g["whisper_rtf_p50"] is None else f"{g['whisper_rtf_p50']:.2f}"
        intent = "-" if key.startswith("unknown") else f"{g['intent_accuracy'] * 100:.1f}%"  # there: `unsafe`
        print(f"{key:17} {g['n']:>3} {g['wer'] * 100:>5.1f}% {intent:>7} "
              f"{g['executed_unknown']:>6} {ms(g['latency_p50_s']):>7} {ms(g['latency_p95_s']):>7} {rtf:>5}  {share}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--asr", choices=["hybrid", "whisper", "pocketsphinx"], default="hybrid")
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--threads", type=int, default=2, help="LLM decode threads")
    p.add_argument("--questions", type=int, default=len(QUESTIONS))
    p.add_argument("--commands", type=int, default=len(COMMANDS))
    p.add_argument("--set", choices=["test", "dev"], default="test",
                   help="commands: the held-out test phrasings (the goal's number) or the development phrasings "
                        "that parser changes are tuned on")
    p.add_argument("--unknown", type=int, default=len(UNKNOWN))
    p.add_argument("--no-tts-cache", action="store_true", help="synthesise every reply (no cache, no pre-warm)")
    p.add_argument("--out", default="bench_voice.json")
    args = p.parse_args()

    from assistant.voice.pipeline import VoicePipeline

    load_before = os.getloadavg()
    stack, assistant = build(args)
    pipeline = VoicePipeline(stack)
    speakers = {"espeak": espeak, "piper": piper_voice(stack)}
    items = [("question", q) for q in QUESTIONS[:args.questions]] + \
        [("command", c) for c in (COMMANDS if args.set == "test" else DEV_COMMANDS)[:args.commands]] + [("unknown", u) for u in UNKNOWN[:args.unknown]]
    rows, started = [], time.time()
    for i, (kind, text) in enumerate(items):
        for voice in VOICES:
            row = run_item(pipeline, speakers[voice], kind, voice, text)
            rows.append(row)
            flag = "ok " if (row["intent_ok"] and not row["executed_unknown"]) else "BAD"
            print(f"[{i + 1:>3}/{len(items)}] {flag} {kind:8} {voice:6} {text!r:52} -> {row['transcript']!r} "
                  f"[{row['source']}] {(row['user_latency_s'] or 0) * 1000:.0f} ms", file=sys.stderr)
    summary = summarise(rows)
    print_table(summary, stack.asr_engine)
    load = os.getloadavg()
    report = {"summary": summary, "rows": rows, "command_set": args.set, "asr_engine": stack.asr_engine, "model": assistant.model_info.id,
              "tts": getattr(stack.tts, "name", None) or "espeak-ng", "tts_cache": not args.no_tts_cache,
              "threads": args.threads, "wall_s": time.time() - started,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "loadavg_before": load_before, "loadavg_after": load},
              "goals": {"question_wer_max": 0.15, "command_intent_accuracy_min": 0.98, "executed_unknown_max": 0,
                        "command_latency_p50_max_s": 0.3, "question_latency_p50_max_s": 1.5}}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nmodel {report['model']}, tts {report['tts']}, load average before/after {load_before[0]:.1f}/"
          f"{load[0]:.1f} on {os.cpu_count()} CPUs; wrote {args.out}")
    stack.close()
    assistant.engine.close()


if __name__ == "__main__":
    main()
