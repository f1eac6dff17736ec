"""Carrying out intents. `IntentExecutor` is the interface; `SimulatedHome` keeps state in memory (tests, demos);
`homeassistant.HomeAssistantExecutor` calls Home Assistant. Both phrase their answers with the helpers here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .home import Capability, Device, Home
from .intents import Intent

_NEEDS: dict[str, Capability] = {"turn_on": "power", "turn_off": "power", "set_brightness": "brightness",
                                 "set_temperature": "target_temperature"}


@dataclass(frozen=True)
class IntentResult:
    """The outcome of one intent."""

    ok: bool
    """Whether the command was carried out (or the question answered)."""
    speech: str
    """What to say back."""
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device id -> the state read or set."""


class IntentExecutor(Protocol):
    """Carries out intents against some home."""

    def execute(self, intent: Intent) -> IntentResult:
        """Do it (or read the state asked about) and say what happened; raises HomeControlError when the
        backend fails."""
        ...


def label(home: Home, device: Device) -> str:
    """How a device is spoken: `kitchen light`."""
    return f"{home.room(device.room).name} {device.name}"


def check(home: Home, intent: Intent) -> tuple[list[Device], IntentResult | None]:
    """The devices an intent can act on, or a spoken refusal or question (unknown name, nothing found, several
    devices without "all", wrong capability, bad value).

    Every executor calls this before acting, whoever built the intent (the voice fast path, or a model's tool
    call), so this is the one place where a command is kept from reaching more devices than it named."""
    if intent.unknown:
        return [], IntentResult(False, f"There is no {intent.unknown} in this home.")
    devices = [home.device(i) for i in intent.device_ids]
    if not devices:
        where = f" in the {home.room(intent.room).name}" if intent.room else ""
        what = intent.device or "device that can do that"
        return [], IntentResult(False, f"I couldn't find a {what}{where}.")
    need = _NEEDS.get(intent.action) or intent.attribute
    able = [d for d in devices if d.can(need)]
    if not able:
        return [], IntentResult(False, f"The {label(home, devices[0])} can't do that.")
    if len(able) > 1 and not intent.all and intent.action != "query_state":
        what = intent.device or "device"
        options = _join([f"the {label(home, d)}" for d in able], "or")
        return [], IntentResult(False, f"Which {what} do you mean: {options}?")
    if intent.action == "set_temperature":
        low, high = (5, 35) if home.temperature_unit == "celsius" else (40, 95)
        if not low <= (intent.value or 0) <= high:
            return [], IntentResult(False, f"I can only set temperatures from {low} to {high} degrees.")
    return able, None


def _join(parts: list[str], conjunction: str = "and") -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {conjunction} " + parts[-1]


def phrase_action(home: Home, intent: Intent, devices: list[Device]) -> str:
    names = _join([f"the {label(home, d)}" for d in devices])
    if intent.action in ("turn_on", "turn_off"):
        return f"Turned {'on' if intent.action == 'turn_on' else 'off'} {names}."
    unit = "percent" if intent.action == "set_brightness" else "degrees"
    return f"Set {names} to {intent.value} {unit}."


def phrase_state(home: Home, intent: Intent, devices: list[Device], states: dict[str, dict[str, Any]]) -> str:
    parts = []
    for d in devices:
        s = states[d.id]
        name = f"the {label(home, d)}"
        if intent.attribute == "power":
            parts.append(f"{name} is {'on' if s.get('on') else 'off'}")
        elif intent.attribute == "brightness":
            parts.append(f"{name} is at {round(s.get('brightness', 0))} percent")
        elif intent.attribute == "target_temperature":
            parts.append(f"{name} is set to {_num(s.get('target_temperature'))} degrees")
        else:
            parts.append(f"it is {_num(s.get('temperature'))} degrees in the {home.room(d.room).name}")
    text = _join(parts)
    return text[0].upper() + text[1:] + "."


def _num(value: Any) -> str:
    if value is None:
        return "an unknown number of"
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


class SimulatedHome:
    """An in-memory home seeded from the home file's `state` tables."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.states: dict[str, dict[str, Any]] = {d.id: self._initial(d) for d in home.devices}

    @staticmethod
    def _initial(device: Device) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if device.can("power"):
            state["on"] = bool(device.state.get("on", False))
        if device.can("brightness"):
            state["brightness"] = float(device.state.get("brightness", 100))
        if device.can("target_temperature"):
            state["target_temperature"] = float(device.state.get("target_temperature", 20))
        if device.can("current_temperature"):
            state["temperature"] = float(device.state.get("temperature", 20))
        return state

    def execute(self, intent: Intent) -> IntentResult:
        devices, refusal = check(self.home, intent)
        if refusal is not None:
            return refusal
        if intent.action == "query_state":
            states = {d.id: dict(self.states[d.id]) for d in devices}
            return IntentResult(True, phrase_state(self.home, intent, devices, states), states)
        for d in devices:
            s = self.states[d.id]
            if intent.action in ("turn_on", "turn_off"):
                s["on"] = intent.action == "turn_on"
            elif intent.action == "set_brightness":
                s["brightness"] = float(intent.value or 0)
                s["on"] = (intent.value or 0) > 0
            else:
                s["target_temperature"] = float(intent.value or 0)
        return IntentResult(True, phrase_action(self.home, intent, devices),
                            {d.id: dict(self.states[d.id]) for d in devices})
