#!/usr/bin/env python3
"""The voice pipeline end to end on speech synthesised by espeak-ng: wake word + command or question -> reply audio.

Measures intent accuracy on the home's grammar commands, word error rate of speech-to-text, and latency from the
end of speech to the first reply audio (p50/p95), with a per-stage breakdown. Every item is a WAV-like stream:
wake word (cycling through the five built-ins), a pause, the utterance, trailing silence.

Latency has two origins, both reported:
  first_audio_s                  from the pipeline's end-of-speech decision (what the pipeline itself adds)
  first_audio_from_speech_end_s  from the last speech frame (adds the trailing silence the VAD must hear first)

    python scripts/bench_voice.py [--model ID|PATH] [--threads 2] [--questions 12] [--out bench_voice.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Commands: every intent type, across the example home's rooms and devices.
COMMANDS = [
    "turn on the kitchen light", "turn off the kitchen light", "switch on the kitchen fan", "turn the kitchen fan off",
    "turn on the living room lamp", "switch off the lamp in the lounge", "turn the living room light on",
    "turn off the bedroom light", "switch on the fan in the bedroom", "turn the bathroom heater on",
    "turn off the bathroom light", "switch on the office desk lamp", "turn on the heating in the bedroom",
    "set the living room light to fifty percent", "dim the bedroom light to twenty percent",
    "set the kitchen light to seventy five percent", "set the brightness of the bathroom light to eighty percent",
    "dim the floor lamp to ten percent", "set the office desk lamp to thirty percent",
    "set the bedroom thermostat to twenty two degrees", "set the living room thermostat to nineteen degrees",
    "set the temperature in the bedroom to eighteen degrees", "set the temperature in the lounge to twenty one",
    "is the kitchen fan on", "is the bedroom light on", "is the bathroom heater on", "is the living room lamp on",
    "what is the temperature in the office", "what is the temperature in the bedroom",
    "what is the living room thermostat set to", "what is the brightness of the kitchen light",
    "what is the bedroom thermostat set to", "what is the temperature in the living room",
    "switch the bedroom fan off", "turn on the light in the bathroom", "is the office desk lamp on",
    "set the brightness of the kitchen light to forty percent", "turn off the heating in the living room",
    "switch on the bathroom light", "dim the living room lamp to sixty percent",
]
QUESTIONS = [
    "what is the capital of france", "tell me a joke about cats", "how far away is the moon",
    "who wrote romeo and juliet", "what is the tallest mountain in the world", "how do i boil an egg",
    "why is the sky blue", "what should i cook for dinner tonight", "how many days are in a leap year",
    "what is the largest ocean on earth", "can you recommend a good book", "what does a bee make",
]
WAKE = [("hey_jarvis", "hey jarvis", "en-us"), ("okay_nabu", "okay nabu", "en-us+f3"),
        ("hey_mycroft", "hey mike roft", "en-us"), ("alexa", "alexa", "en-us"), ("hey_rhasspy", "hey rhasspy", "en-us")]
STAGES = ["asr_s", "first_text_s", "first_sentence_s", "tts_first_chunk_s", "first_audio_s",
          "first_audio_from_speech_end_s", "llm_done_s", "total_s"]


def speak(text: str, voice: str = "en-us") -> bytes:
    from assistant.voice.audio import normalize_pcm

    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
    return normalize_pcm(wav[44:], rate, 2, 1)


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 16000) * 2)


class Source:
    live = False

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm

    def chunks(self):
        for i in range(0, len(self.pcm), 2048):
            yield self.pcm[i:i + 2048]

    def close(self) -> None:
        pass


class CountingSink:
    def __init__(self) -> None:
        self.samples = 0

    def write(self, pcm: bytes, rate: int) -> None:
        self.samples += len(pcm) // 2

    def close(self) -> None:
        pass


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(word edits, reference words)."""
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[:], i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return d[len(h)], len(r)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def build(args):
    from assistant.assistant import Assistant
    from assistant.runtime import load_engine, open_store
    from assistant.settings import load_settings
    from assistant.voice.responder import warm_up
    from assistant.voice.stack import build_stack

    settings = load_settings(model=args.model, engine={"n_ctx": 2048, "n_threads": args.threads})
    store = open_store(settings)
    if settings.model == store.catalog.default and store.get(settings.model) is None:
        store.pull(settings.model)
    assistant = Assistant(load_engine(settings), settings)
    warm_up(assistant, settings.voice, settings.sampling)
    return build_stack(settings, assistant=lambda: assistant), assistant


def run_item(pipeline, kind: str, text: str, index: int) -> dict:
    name, phrase, voice = WAKE[index % len(WAKE)]
    pcm = silence(0.4) + speak(phrase, voice) + silence(0.5) + speak(text) + silence(1.2)
    sink = CountingSink()
    result = next(iter(pipeline.run(Source(pcm), sink, once=True)))
    data = result.to_json()
    expected = pipeline.stack.intents.recognize(text)
    edits, words = wer(text, data["transcript"] or "")
    return {"kind": kind, "text": text, "wake_expected": name, "wake": (data["wake"] or {}).get("name"),
            "transcript": data["transcript"], "edits": edits, "words": words,
            "intent_ok": kind == "command" and result.response is not None and result.response.intent == expected,
            "answered_by": data["answered_by"], "reply": data["reply"], "error": data["error"],
            "reply_audio_s": data["reply_audio_s"], "timings": data["timings"]}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for group in ("command", "question", "all"):
        sel = [r for r in rows if group == "all" or r["kind"] == group]
        if not sel:
            continue
        g = {"n": len(sel), "wake_rate": sum(r["wake"] == r["wake_expected"] for r in sel) / len(sel),
             "wer": sum(r["edits"] for r in sel) / max(1, sum(r["words"] for r in sel))}
        if group == "command":
            g["intent_accuracy"] = sum(r["intent_ok"] for r in sel) / len(sel)
        for stage in STAGES:
            vals = [r["timings"][stage] for r in sel if r["timings"].get(stage) is not None]
            g[stage] = {"p50": pct(vals, 0.5), "p95": pct(vals, 0.95), "n": len(vals)}
        out[group] = g
    return out


def print_table(summary: dict) -> None:
    def ms(v):
        return "-" if v is None else f"{v * 1000:.0f}"

    print(f"{'group':9} {'n':>3} {'wake':>6} {'intent':>7} {'WER':>6}  " + "  ".join(f"{s[:-2]:>18}" for s in
                                                                             ("first_audio_s", "first_audio_from_speech_end_s")))
    for group, g in summary.items():
        intent = f"{g['intent_accuracy'] * 100:.1f}%" if "intent_accuracy" in g else "-"
        fa, fs = g["first_audio_s"], g["first_audio_from_speech_end_s"]
        print(f"{group:9} {g['n']:>3} {g['wake_rate'] * 100:>5.0f}% {intent:>7} {g['wer'] * 100:>5.1f}%  "
              f"{ms(fa['p50']):>8} / {ms(fa['p95']):>7}  {ms(fs['p50']):>8} / {ms(fs['p95']):>7}   (ms p50 / p95)")
    print("\nper stage, ms from the end-of-speech decision (p50 / p95):")
    print(f"{'stage':32}" + "".join(f"{k:>18}" for k in summary))
    for stage in STAGES:
        print(f"{stage:32}" + "".join(f"{ms(g[stage]['p50']):>8} / {ms(g[stage]['p95']):>7}"
                                      for g in summary.values()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--threads", type=int, default=2, help="LLM decode threads")
    p.add_argument("--questions", type=int, default=len(QUESTIONS))
    p.add_argument("--commands", type=int, default=len(COMMANDS))
    p.add_argument("--out", default="bench_voice.json")
    args = p.parse_args()

    from assistant.voice.pipeline import VoicePipeline

    stack, assistant = build(args)
    pipeline = VoicePipeline(stack)
    items = [("command", c) for c in COMMANDS[:args.commands]] + [("question", q) for q in QUESTIONS[:args.questions]]
    rows, started = [], time.time()
    for i, (kind, text) in enumerate(items):
        row = run_item(pipeline, kind, text, i)
        rows.append(row)
        flag = "ok " if row["intent_ok"] or kind == "question" else "BAD"
        print(f"[{i + 1:>2}/{len(items)}] {flag} {kind:8} {text!r:58} -> {row['transcript']!r} "
              f"({(row['timings'].get('first_audio_s') or 0) * 1000:.0f} ms)", file=sys.stderr)
    summary = summarise(rows)
    print_table(summary)
    load = os.getloadavg()
    report = {"summary": summary, "rows": rows, "model": assistant.model_info.id, "threads": args.threads,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_after": load},
              "wall_s": time.time() - started,
              "goals": {"intent_accuracy_min": 0.95, "first_audio_p50_max_s": 0.8}}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nmodel {report['model']}, {args.threads} LLM thread(s), load average after the run {load[0]:.1f}; "
          f"wrote {args.out}")
    assistant.engine.close()


if __name__ == "__main__":
    main()
