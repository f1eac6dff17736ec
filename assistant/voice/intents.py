"""The local fast path: text -> a structured home-control intent, without the LLM."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal

from . import numbers
from .grammar import Phrase, alternatives_regex, expand_phrases, phrase_regex, slot_values
from .home import Home

Action = Literal["turn_on", "turn_off", "set_brightness", "set_temperature", "query_state"]
Attribute = Literal["power", "brightness", "target_temperature", "current_temperature"]

_POLITE_PREFIX = re.compile(r"^(?:(?:please|hey|ok|okay|can you|could you|would you|will you) )+")
_POLITE_SUFFIX = re.compile(r"(?:please |for me |thanks |thank you )+$")


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised home-control command or question."""

    action: Action
    """What to do."""
    device_ids: tuple[str, ...]
    """Devices it applies to (empty when the named device does not exist in that room)."""
    room: str | None
    """Id of the room that was named, if any."""
    device: str | None = field(default=None, compare=False)
    """The spoken device name, if one was named (not part of equality: `light` and `lights` are the same intent)."""
    value: int | None = None
    """Brightness percent or temperature for `set_*` actions."""
    attribute: Attribute | None = None
    """For `query_state`: the attribute asked about."""

    def to_json(self) -> dict:
        data = asdict(self)
        data["device_ids"] = list(self.device_ids)
        return data


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces, numbers spelled out, politeness stripped."""
    text = text.lower().replace("%", " percent ").replace("°", " degrees ")
    text = numbers.digits_to_words(text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = " ".join(text.split()) + " "
    text = _POLITE_PREFIX.sub("", text)
    return _POLITE_SUFFIX.sub("", text).strip()


class IntentRecognizer:
    """Matches normalised text against the home's command phrases and resolves names to devices."""

    def __init__(self, home: Home) -> None:
        self.home = home
        slots = {name: alternatives_regex(alts) for name, alts in slot_values(home).items()}
        self._patterns = [(p, re.compile(phrase_regex(p.expansion, slots))) for p in expand_phrases()]
        self._rooms = {n: r.id for r in home.rooms for n in r.spoken}

    def recognize(self, text: str) -> Intent | None:
        """The intent of `text`, or None when it is not a home command (then the assistant answers)."""
        norm = normalize(text)
        if not norm:
            return None
        fallback: Intent | None = None
        for phrase, pattern in self._patterns:
            m = pattern.fullmatch(norm + " ")
            if m is None:
                continue
            intent = self._resolve(phrase, m.groupdict())
            # Phrases shared by several capabilities ("what is X set to") take the reading that fits the device.
            if any(self.home.device(i).can(phrase.need) for i in intent.device_ids):
                return intent
            fallback = fallback or intent
        return fallback

    def _resolve(self, phrase: Phrase, groups: dict[str, str | None]) -> Intent:
        room_id = self._rooms[groups["room"].strip()] if groups.get("room") else None
        device = groups["device"].strip() if groups.get("device") else None
        number = groups.get("percent") or groups.get("degrees")
        value = numbers.WORDS_TO_NUMBER[number.strip()] if number else None
        if device is not None:
            matches = [d for d in self.home.devices if device in d.spoken and room_id in (None, d.room)]
        else:  # a room-level phrase: the devices in that room that can do it
            matches = [d for d in self.home.devices if d.room == room_id and d.can(phrase.need)]
        action, attribute = phrase.action, phrase.attribute
        return Intent(action=action, device_ids=tuple(d.id for d in matches), room=room_id, device=device,
                      value=value, attribute=attribute)

