"""The home's devices as tools: an utterance the command grammar cannot parse but that is about the home ("make
the living room cosy", "it's too dark in here") goes to the Assistant with these tools, and the model's call
becomes an `Intent` that the executor checks and carries out exactly as a spoken command would be.

The tool schemas list only this home's devices that can do each thing (a JSON Schema `enum` the grammar
enforces), so a call can name no other device; the executor's `check` still guards every value."""

from __future__ import annotations

import json
import re

from ..engine.events import ToolCall
from ..errors import InvalidRequestError
from ..tools.spec import Tool, ToolSpec
from .executors import IntentResult, label
from .home import Capability, Home
from .intents import Intent, normalize

_ATTRIBUTES: dict[str, Capability] = {"power": "power", "brightness": "brightness",
                                      "target_temperature": "target_temperature",
                                      "temperature": "current_temperature"}

_COMFORT = re.compile(
    r"\b(?:it's|it is|its|i'm|i am|i feel|we're|we are|feels?|getting|too|so|bit|make it|make the \w+(?: \w+)?)\b"
    r".*\b(?:dark|darker|dim|dimmer|bright|brighter|cold|colder|chilly|freezing|cool|cooler|warm|warmer|hot|"
    r"hotter|stuffy|cosy|cozy)\b")
"""How people say the home is uncomfortable: "it's too dark in here", "I'm cold", "make it brighter". A bare
"hot" or "light" is not enough ("how hot is the sun", "the speed of light" are questions)."""


def about_the_home(home: Home, text: str) -> bool:
    """Whether `text` names a room of `home` or says the home is uncomfortable (then it is asked with the
    tools; device names alone are not enough: "light" and "fan" are common words)."""
    words = normalize(text)
    rooms = {name for room in home.rooms for name in room.spoken}
    return bool(_COMFORT.search(words)) or any(re.search(rf"\b{re.escape(r)}\b", words) for r in rooms)


_PLACE = re.compile(r"\b(?:in|at) (?:the |my |our )?((?!(?:a|an|here|there|this|that|it|all)\b)[a-z]+(?: [a-z]+)?)")


def places(home: Home, text: str) -> tuple[frozenset[str], str | None]:
    """The ids of the rooms `text` names, and a place it names that the home lacks ("in the garage" -> `garage`),
    or None. A call may only act in the rooms named (any room when none is), and a place the home lacks is
    refused, as a spoken command naming it is (never acted on somewhere else)."""
    words = normalize(text)
    spoken = {name: room.id for room in home.rooms for name in room.spoken}
    named = frozenset(rid for name, rid in spoken.items() if re.search(rf"\b{re.escape(name)}\b", words))
    for match in _PLACE.finditer(words):
        phrase = match.group(1)
        if not any(phrase == name or phrase.startswith(name + " ") for name in spoken):
            first, *rest = phrase.split()
            return named, phrase if rest and rest[0] == "room" else first
    return named, None


def _devices(home: Home, capability: Capability) -> dict:
    ids = [d.id for d in home.devices if d.can(capability)]
    spoken = "; ".join(f"{d.id} = the {label(home, d)}" for d in home.devices if d.can(capability))
    return {"type": "string", "enum": ids, "description": spoken}


def home_tool_spec(home: Home) -> ToolSpec:
    """One call per utterance (`required`, not parallel): a voice command does one thing, and a small model asked
    for several calls runs on to its token limit. Tools whose capability no device has are left out."""
    tools = []
    if any(d.can("power") for d in home.devices):
        tools.append(Tool("set_power", "Switch a device on or off.", _object(
            {"device": _devices(home, "power"), "on": {"type": "boolean"}})))
    if any(d.can("brightness") for d in home.devices):
        tools.append(Tool("set_brightness", "Set a light's brightness in percent (0-100).", _object(
            {"device": _devices(home, "brightness"), "percent": {"type": "integer"}})))
    if any(d.can("target_temperature") for d in home.devices):
        unit = "Celsius" if home.temperature_unit == "celsius" else "Fahrenheit"
        tools.append(Tool("set_temperature", f"Set a thermostat's target temperature in degrees {unit}.", _object(
            {"device": _devices(home, "target_temperature"), "degrees": {"type": "integer"}})))
    readable = {d.id for d in home.devices}
    tools.append(Tool("get_state", "Read a device's state: power, brightness, target_temperature or the room's "
                      "temperature.", _object({"device": {"type": "string", "enum": sorted(readable)},
                                               "attribute": {"type": "string", "enum": list(_ATTRIBUTES)}})))
    return ToolSpec(tuple(tools), "required", parallel=False)


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def intent_from_call(home: Home, call: ToolCall) -> Intent | IntentResult:
    """The intent a call asks for, or a spoken refusal (a brightness outside 0-100). Raises InvalidRequestError
    for a call that is not one of `home_tool_spec`'s (the grammar makes that impossible for Hearth's own calls)."""
    try:
        args = json.loads(call.arguments)
        device = home.device(args["device"])
    except (ValueError, KeyError, TypeError, StopIteration):
        raise InvalidRequestError(f"the call {call.name}({call.arguments}) names no device of this home") from None
    base = {"device_ids": (device.id,), "room": device.room, "device": device.name}
    if call.name == "set_power" and isinstance(args.get("on"), bool):
        return Intent("turn_on" if args["on"] else "turn_off", **base)
    if call.name == "set_brightness" and isinstance(args.get("percent"), int):
        if not 0 <= args["percent"] <= 100:
            return IntentResult(False, "Brightness goes from 0 to 100 percent.")
        return Intent("set_brightness", value=args["percent"], **base)
    if call.name == "set_temperature" and isinstance(args.get("degrees"), int):
        return Intent("set_temperature", value=args["degrees"], **base)
    if call.name == "get_state" and args.get("attribute") in _ATTRIBUTES:
        return Intent("query_state", attribute=_ATTRIBUTES[args["attribute"]], **base)
    raise InvalidRequestError(f"the call {call.name}({call.arguments}) is not one of the home's tools")

