"""Smart-home tools shared by the tool-calling tests (OpenAI's `tools` shape) and a checker for their calls."""

from __future__ import annotations

import json

import jsonschema

ROOMS = ["kitchen", "bedroom", "living room", "bathroom"]
TOOLS = [
    {"type": "function", "function": {
        "name": "set_light", "description": "Turn a room's light on or off, optionally at a brightness.",
        "parameters": {"type": "object", "properties": {
            "room": {"type": "string", "enum": ROOMS}, "on": {"type": "boolean"},
            "brightness": {"type": "integer", "description": "percent"}}, "required": ["room", "on"]}}},
    {"type": "function", "function": {
        "name": "set_temperature", "description": "Set a room's thermostat in degrees Celsius.",
        "parameters": {"type": "object", "properties": {
            "room": {"type": "string", "enum": ROOMS}, "celsius": {"type": "number"}},
            "required": ["room", "celsius"]}}},
    {"type": "function", "function": {
        "name": "play_music", "description": "Play a playlist in some rooms.",
        "parameters": {"type": "object", "properties": {
            "playlist": {"type": "string", "maxLength": 24},
            "rooms": {"type": "array", "items": {"$ref": "#/$defs/room"}, "minItems": 1, "maxItems": 3},
            "at": {"$ref": "#/$defs/time"}},
            "required": ["playlist", "rooms"],
            "$defs": {"room": {"type": "string", "enum": ROOMS},
                      "time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}}}}},
    {"type": "function", "function": {"name": "get_time", "description": "The current time."}},
]
SCHEMAS = {t["function"]["name"]: t["function"].get("parameters") or {"type": "object", "properties": {},
                                                                        "additionalProperties": False}
           for t in TOOLS}


def check_call(name: str, arguments: str, allowed: set[str] | None = None) -> dict:
    """The call's arguments, after checking that they parse and validate against the tool's schema."""
    assert name in (allowed or SCHEMAS), name
    args = json.loads(arguments)
    assert isinstance(args, dict)
    jsonschema.validate(args, SCHEMAS[name])
    return args
