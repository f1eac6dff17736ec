"""Benchmark the voice pipeline's home tools: utterances about the example home that the command grammar cannot
parse ("it's too dark in the kitchen"), answered by the real model with the home's devices as tools, each with
the action and device a person would expect. Reports % valid calls (of a device the home has: the grammar's
guarantee, goal 100%), % carried out, % refused (a device outside the rooms the utterance named), and among the
carried-out calls' intents % right device, % right action, % both (of all utterances).

    python3 scripts/bench_home_tools.py [--model smollm2-135m-instruct] [--threads 2] [--temperature 0]
        [--out bench-results/bench_home_tools.json]

Text in, no audio (speech recognition is bench_voice.py's). Accuracy does not depend on machine load; no timings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.runtime import build_assistant
from assistant.settings import DEFAULT_MODEL, load_settings
from assistant.voice.executors import SimulatedHome
from assistant.voice.home import load_home
from assistant.voice.intents import IntentRecognizer
from assistant.voice.responder import Responder

# (utterance, expected action, expected device id); "on"/"off"/"brightness"/"temperature"/"state".
CASES = [
    ("it's too dark in the kitchen", "on", "kitchen_light"),
    ("the kitchen is so dark i can't see a thing", "on", "kitchen_light"),
    ("it is too bright in the bedroom", "off", "bedroom_light"),
    ("i'm going to sleep, the bedroom should be dark", "off", "bedroom_light"),
    ("the bathroom is freezing", "on", "bathroom_heater"),
    ("it's too hot in the bathroom", "off", "bathroom_heater"),
    ("the kitchen is stuffy", "on", "kitchen_fan"),
    ("it's warm and stuffy in the bedroom", "on", "bedroom_fan"),
    ("make the lounge cosy", "brightness", "living_room_lamp"),
    ("the lounge is too cold", "temperature", "living_room_thermostat"),
    ("i'm cold in the bedroom", "temperature", "bedroom_thermostat"),
    ("the bedroom is too warm", "temperature", "bedroom_thermostat"),
    ("i need more light in the office", "on", "office_light"),
    ("the study is too dark to read", "on", "office_light"),
    ("how warm is it in the study", "state", "office_sensor"),
    ("is it cold in the office", "state", "office_sensor"),
    ("the living room is too dark", "on", "living_room_light"),
    ("the lounge is way too bright", "off", "living_room_light"),
    ("the kitchen fan is too loud", "off", "kitchen_fan"),
    ("we're watching a film in the lounge, make it darker", "brightness", "living_room_light"),
    ("it's chilly in the lounge", "temperature", "living_room_thermostat"),
    ("the bathroom light is blinding", "off", "bathroom_light"),
    ("the bedroom fan is making me cold", "off", "bedroom_fan"),
    ("it is so dark in the bathroom", "on", "bathroom_light"),
]
_ACTION = {"turn_on": "on", "turn_off": "off", "set_brightness": "brightness", "set_temperature": "temperature",
           "query_state": "state"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench_home_tools.json"))
    args = ap.parse_args()
    settings = load_settings(model=args.model, engine={"n_ctx": 2048, "n_threads": args.threads},
                             sampling={"temperature": args.temperature, "seed": 1}, escalation={"enabled": False},
                             voice={"max_tokens": 64, "reply_timeout_s": 600.0})
    home = load_home()
    recognizer = IntentRecognizer(home)
    assistant = build_assistant(settings)
    rows = []
    for text, action, device in CASES:
        responder = Responder(recognizer, SimulatedHome(home), lambda: assistant, settings.voice, settings.sampling)
        response = responder.respond(text)
        spoken = " ".join(response.sentences())
        intent = response.intent
        rows.append({
            "text": text, "expected": [action, device], "parsed_by_grammar": response.source == "intent",
            "call": None if response.tool_call is None else [response.tool_call.name, response.tool_call.arguments],
            "got": None if intent is None else [_ACTION[intent.action], list(intent.device_ids)],
            "carried_out": bool(response.result and response.result.ok), "spoken": spoken, "error": response.error})
    report(rows, args)


def report(rows: list[dict], args: argparse.Namespace) -> None:
    n = len(rows)

    def pct(pred) -> float:
        return round(100.0 * sum(1 for r in rows if pred(r)) / n, 1)

    got = [r for r in rows if r["got"]]
    summary = {
        "model": args.model, "utterances": n, "temperature": args.temperature,
        "parsed_by_grammar": sum(r["parsed_by_grammar"] for r in rows),
        "valid_call_pct": pct(lambda r: r["call"] is not None),
        "carried_out_pct": pct(lambda r: r["carried_out"]),
        "refused_pct": pct(lambda r: r["call"] is not None and not r["carried_out"]),
        "right_device_pct": pct(lambda r: r["got"] and r["got"][1] == [r["expected"][1]]),
        "right_action_pct": pct(lambda r: r["got"] and r["got"][0] == r["expected"][0]),
        "right_both_pct": pct(lambda r: r["got"] and r["got"] == [r["expected"][0], [r["expected"][1]]]),
        "calls_with_a_device_outside_the_home": sum(1 for r in got if not r["got"][1]),
    }
    print("| model | utterances | valid calls | carried out | refused | right device | right action | right both |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {n} | {summary['valid_call_pct']}% | {summary['carried_out_pct']}% | "
          f"{summary['refused_pct']}% | "
          f"{summary['right_device_pct']}% | {summary['right_action_pct']}% | {summary['right_both_pct']}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
