"""The local fast path: text -> a structured home-control intent, without the LLM."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from . import numbers
from .grammar import Phrase, alternatives_regex, command_shapes, expand_phrases, phrase_regex, slot_values
from .home import Home
from .tolerance import Tolerance

Action = Literal["turn_on", "turn_off", "set_brightness", "set_temperature", "query_state"]
Attribute = Literal["power", "brightness", "target_temperature", "current_temperature"]

_POLITE_PREFIX = re.compile(r"^(?:(?:please|hey|ok|okay|can you|could you|would you|will you) )+")
_NOT_A_NAME = frozenset({"the", "a", "an", "all", "of", "it", "them", "this", "that", "these", "those",
                         "everything", "something"})
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
    all: bool = False
    """The command said "all": it may reach every device that matches (otherwise it must name exactly one)."""
    unknown: str | None = None
    """Words where a room or device was expected that name nothing in this home (`hallway light`)."""

    def to_json(self) -> dict:
        data = asdict(self)
        data["device_ids"] = list(self.device_ids)
        return data


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces, numbers spelled out, politeness stripped."""
    text = text.lower().replace("%", " percent ").replace("°", " degrees ")
    text = numbers.digits_to_words(text).replace("what's", "what is")
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = " ".join(text.split()) + " "
    text = _POLITE_PREFIX.sub("", text)
    return _POLITE_SUFFIX.sub("", text).strip()


class IntentRecognizer:
    """Matches normalised text against the home's command phrases and resolves names to devices."""

    def __init__(self, home: Home) -> None:
        self.home = home
        values = slot_values(home)
        # Plurals are understood in text ("all the lamps", from Whisper) without being added to the grammar.
        values["device"] = sorted({*values["device"], *(_plural(n) for n in values["device"])})
        slots = {name: alternatives_regex(alts) for name, alts in values.items()}
        self._patterns = [(p, re.compile(phrase_regex(p.expansion, slots))) for p in expand_phrases()]
        self._rooms = {n: r.id for r in home.rooms for n in r.spoken}
        words = {"unknown": r"(?!the )(?:[a-z']+ ){1,4}", "percent": slots["percent"], "degrees": slots["degrees"]}
        self._shapes = [(action, re.compile(phrase_regex(shape, words))) for action, shape in command_shapes()]
        self.tolerance = Tolerance(home)

    def recognize(self, text: str) -> Intent | None:
        """The intent of `text`, or None when it is not a home command (then the assistant answers). Text that
        matches no command as written is matched again with speech-to-text's slips undone (`Tolerance`)."""
        norm = normalize(text)
        if not norm:
            return None
        intent = self._match(norm)
        if intent is not None:
            return intent
        lenient = self.tolerance.rewrite(norm)
        intent = self._match(lenient) if lenient and lenient != norm else None
        return intent or self._unknown_target(lenient or norm)

    def reconcile(self, grammar_text: str, whisper_text: str) -> str | None:
        """Two readings of one utterance (the home grammar's and Whisper's): the one to act on when they are the
        same command, or None when they are not (then neither may be carried out).

        Same command: equal intents; or the same content words (`Tolerance.content_words`: Whisper's
        "could you turn the lamp and the study off" holds the grammar's "turn the lamp in the study off"); or
        Whisper heard "all" where the grammar, which has no "all" (see `grammar.TARGETS`), heard the rest alike:
        then Whisper's reading is the command."""
        g = self.recognize(grammar_text)
        if g is None or g.unknown is not None:
            return None
        w = self.recognize(whisper_text)
        if w == g:
            return grammar_text
        if w is not None and w.all and not g.all and replace(w, all=False) == g:
            return whisper_text
        same = self.tolerance.content_words(normalize(grammar_text)) == \
            self.tolerance.content_words(normalize(whisper_text))
        return grammar_text if same else None

    def _match(self, norm: str) -> Intent | None:
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

    def _unknown_target(self, norm: str) -> Intent | None:
        """A state-changing command about something the home does not have: an intent without devices, so that
        it is refused instead of being answered by the assistant or widened to devices that do exist."""
        found = [(action, m) for action, pattern in self._shapes if (m := pattern.fullmatch(norm + " "))
                 and not set(m.group("unknown").split()) <= _NOT_A_NAME]
        if not found:
            return None
        # The reading that leaves the fewest words unknown: "set the temperature in the hallway to ..." is about
        # the hallway, not about a device called "temperature in the hallway".
        action, m = min(found, key=lambda f: len(f[1].group("unknown").split()))
        number = m.groupdict().get("percent") or m.groupdict().get("degrees")
        value = numbers.WORDS_TO_NUMBER[number.strip()] if number else None
        return Intent(action=action, device_ids=(), room=None, value=value,  # type: ignore[arg-type]
                      unknown=m.group("unknown").strip())

    def _resolve(self, phrase: Phrase, groups: dict[str, str | None]) -> Intent:
        room_id = self._rooms[groups["room"].strip()] if groups.get("room") else None
        device = groups["device"].strip() if groups.get("device") else None
        number = groups.get("percent") or groups.get("degrees")
        value = numbers.WORDS_TO_NUMBER[number.strip()] if number else None
        if device is not None:
            matches = [d for d in self.home.devices
                       if (device in d.spoken or device in map(_plural, d.spoken)) and room_id in (None, d.room)]
        else:  # a room-level phrase: the devices in that room that can do it
            matches = [d for d in self.home.devices if d.room == room_id and d.can(phrase.need)]
        action, attribute = phrase.action, phrase.attribute
        return Intent(action=action, device_ids=tuple(d.id for d in matches), room=room_id, device=device,
                      value=value, attribute=attribute, all=" all [of] " in f" {phrase.expansion}")



def _plural(name: str) -> str:
    return name if name.endswith("s") else name + "s"
