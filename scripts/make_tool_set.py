"""Build the graded tool-call set behind the shipped tool-call calibration
(`assistant/escalation/data/tool_calls.json`): smart-home requests, each with the one call that is right.

    python3 scripts/make_tool_set.py [--out assistant/escalation/data/tool_calls.json] [--per-template 4]

Two tool sets, so the fit is not of one tool list: `home` is the voice pipeline's own tools for the shipped
example home (`home_tool_spec`: device ids with spoken descriptions), `flat` is a flat list of named devices
(the shape of most agent frameworks' smart-home tools) whose devices and rooms are none of
`scripts/bench_tools.py`'s, which stays the untouched benchmark. Each request is a phrasing template filled
with a device and a value drawn with a fixed seed; the split goes by template (three of every five templates
train, one validation, one test), so the test numbers are for phrasings the fit never saw."""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.tools import Tool
from assistant.voice.home import load_home
from assistant.voice.home_tools import home_tool_spec

OUT = Path(__file__).resolve().parent.parent / "assistant" / "escalation" / "data" / "tool_calls.json"

# Each intent's phrasings; {d} a device as spoken, {v} a value. Deliberately indirect, like bench_tools' cases.
TEMPLATES: dict[str, list[str]] = {
    "on": ["Turn on {d}.", "Could you switch {d} on?", "I need {d} on, please.", "Please start {d}.",
           "{D} on, thanks.", "Can you get {d} going?", "Fire up {d}.", "Would you mind turning {d} on?",
           "Time to put {d} on.", "Switch {d} on for me.", "Power up {d}, please.", "Go ahead and turn on {d}."],
    "off": ["Turn off {d}.", "Could you switch {d} off?", "I don't need {d} any more, turn it off.",
            "Please shut {d} off.", "{D} off, thanks.", "Kill {d}.", "Stop {d}, please.",
            "Would you mind turning {d} off?", "We're leaving, switch off {d}.", "Switch {d} off for me.",
            "Power down {d}, please.", "Go ahead and turn off {d}."],
    "brightness": ["Set {d} to {v} percent.", "Dim {d} to {v} percent.", "Could you put {d} at {v} percent?",
                   "I'd like {d} at {v} percent brightness.", "{D} to {v}%, please.",
                   "Make {d} {v} percent bright.", "Bring {d} to {v} percent.", "Adjust {d} to {v} percent.",
                   "Change the brightness of {d} to {v} percent.", "{D} at {v} percent would be nice.",
                   "Please set the brightness of {d} to {v}.", "Turn {d} to {v} percent."],
    "temperature": ["Set {d} to {v} degrees.", "Make it {v} degrees with {d}.", "Could you put {d} on {v} degrees?",
                    "I'd like {d} at {v} degrees.", "{D} to {v}, please.", "Change {d} to {v} degrees.",
                    "Heat with {d} to {v} degrees.", "Adjust {d} to {v} degrees.", "Please set {d} at {v}.",
                    "Turn {d} to {v} degrees.", "{D} should be at {v} degrees.", "Bring {d} up to {v} degrees."],
    "state": ["Is {d} on?", "Did I leave {d} on?", "Can you check {d}?", "What's the state of {d}?",
              "Tell me whether {d} is on.", "Is {d} still running?", "Check on {d} for me.",
              "Is {d} switched on or off?", "How is {d} doing?", "Has {d} been left on?",
              "What is {d} doing right now?", "Find out if {d} is on."],
}
PERCENTS = [10, 15, 20, 25, 30, 40, 50, 60, 65, 70, 75, 80, 90, 100]
DEGREES = list(range(16, 27))

FLAT_DEVICES = ["porch light", "garden light", "hallway lamp", "reading lamp", "heater", "radio", "dishwasher",
                "kettle"]
FLAT_LIGHTS = FLAT_DEVICES[:4]
FLAT_ROOMS = ["study", "nursery", "dining room", "attic", "basement"]


def _flat_tools() -> list[Tool]:
    device = {"type": "object", "properties": {"device": {"type": "string", "enum": FLAT_DEVICES}},
              "required": ["device"]}
    return [
        Tool("turn_on", "Switch a device on.", device),
        Tool("turn_off", "Switch a device off.", device),
        Tool("set_brightness", "Set a light's brightness in percent (0-100).", {
            "type": "object", "properties": {"device": {"type": "string", "enum": FLAT_LIGHTS},
                                             "percent": {"type": "integer"}}, "required": ["device", "percent"]}),
        Tool("set_temperature", "Set a room's thermostat in degrees Celsius.", {
            "type": "object", "properties": {"room": {"type": "string", "enum": FLAT_ROOMS},
                                             "celsius": {"type": "number"}}, "required": ["room", "celsius"]}),
        Tool("get_state", "Tell whether a device is on, and its level.", device),
    ]


def _flat_targets(intent: str) -> list[tuple[str, str, dict]]:
    """(spoken phrase, tool name, arguments without the value) for every target of `intent` in `flat`."""
    if intent == "temperature":
        return [(f"the {r} thermostat", "set_temperature", {"room": r}) for r in FLAT_ROOMS]
    names = {"on": "turn_on", "off": "turn_off", "brightness": "set_brightness", "state": "get_state"}
    devices = FLAT_LIGHTS if intent == "brightness" else FLAT_DEVICES
    return [(f"the {d}", names[intent], {"device": d}) for d in devices]


def _home_targets(home, intent: str) -> list[tuple[str, str, dict]]:
    wanted = {"on": "power", "off": "power", "brightness": "brightness", "temperature": "target_temperature",
              "state": "power"}[intent]
    rooms = {r.id: r.name for r in home.rooms}
    out = []
    for d in home.devices:
        if not d.can(wanted):
            continue
        spoken = d.name if d.name.startswith(rooms[d.room]) else f"the {rooms[d.room]} {d.name}"
        spoken = spoken if spoken.startswith("the ") else f"the {spoken}"
        args = {"on": {"device": d.id, "on": True}, "off": {"device": d.id, "on": False},
                "brightness": {"device": d.id}, "temperature": {"device": d.id},
                "state": {"device": d.id, "attribute": "power"}}[intent]
        name = {"on": "set_power", "off": "set_power", "brightness": "set_brightness",
                "temperature": "set_temperature", "state": "get_state"}[intent]
        out.append((spoken, name, args))
    return out


VALUE_KEY = {("flat", "brightness"): "percent", ("flat", "temperature"): "celsius",
             ("home", "brightness"): "percent", ("home", "temperature"): "degrees"}


def _split(template: int) -> str:
    return ("train", "train", "train", "validation", "test")[template % 5]


def build(per_template: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    home = load_home()
    tool_sets = {"home": [asdict(t) for t in home_tool_spec(home).tools], "flat": [asdict(t) for t in _flat_tools()]}
    requests = []
    for set_name in ("home", "flat"):
        for intent, templates in TEMPLATES.items():
            targets = _home_targets(home, intent) if set_name == "home" else _flat_targets(intent)
            for t_no, template in enumerate(templates):
                for spoken, name, args in rng.sample(targets, min(per_template, len(targets))):
                    args = dict(args)
                    value = None
                    if (key := VALUE_KEY.get((set_name, intent))) is not None:
                        value = rng.choice(PERCENTS if intent == "brightness" else DEGREES)
                        args[key] = value
                    text = template.format(d=spoken, D=spoken[0].upper() + spoken[1:], v=value)
                    requests.append({"id": f"{set_name}-{intent}-{t_no}-{len(requests)}", "tools": set_name,
                                     "request": text, "expected": {"name": name, "arguments": args},
                                     "intent": intent, "template": t_no, "split": _split(t_no)})
    return {"tool_sets": tool_sets, "requests": requests}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--per-template", type=int, default=4, help="requests drawn per phrasing template")
    args = ap.parse_args()
    data = build(args.per_template)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    splits = {s: sum(r["split"] == s for r in data["requests"]) for s in ("train", "validation", "test")}
    print(f"wrote {args.out}: {len(data['requests'])} requests ({splits})")


if __name__ == "__main__":
    main()
