"""The command phrases, written once and compiled two ways: a JSGF grammar for the speech recogniser and regular
expressions for the intent recogniser, so what can be heard and what can be understood never drift apart.

Phrase syntax is a JSGF subset: words, `[optional]`, `(a | b)` alternatives and the slots `<room>`, `<device>` and
`<percent>`/`<degrees>`. `{target}` stands for the three ways to name a device (with or without its room).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from . import numbers
from .home import Home

TARGETS = (
    # (how intents read a target, how the grammar hears it: only rooms with such a device, see `build_jsgf`)
    ("[the] <room> <device>", "[the] <room_device_{need}>"),
    ("[the] <device> in [the] <room>", "[the] <device_in_room_{need}>"),
    ("[the] <device>", "[the] <device_{need}>"),
    # Only an explicit "all" may reach several devices (see `executors.check`). It is understood in text but kept
    # out of the speech grammar: there "hallway light" was forced into "all the light" and switched on every
    # light; said aloud, "all" reaches the intents only through open-vocabulary recognition (Whisper).
    ("all [of] [the] <room> <device>", None),
    ("all [of] [the] <device> in [the] <room>", None),
    ("all [of] [the] <device>", None),
)
UNKNOWN_TARGET = "[the] <unknown>"
"""What stands for a target in the shape of a command whose target the home does not have."""

PHRASES: tuple[tuple[str, str, str, str | None], ...] = (
    # (action, phrase, capability the device needs, attribute asked about by a query)
    ("turn_on", "(turn | switch) on {target}", "power", None),
    ("turn_on", "(turn | switch) {target} on", "power", None),
    ("turn_off", "(turn | switch) off {target}", "power", None),
    ("turn_off", "(turn | switch) {target} off", "power", None),
    ("set_brightness", "(set | dim | brighten) {target} to <percent> percent", "brightness", None),
    ("set_brightness", "set the brightness of {target} to <percent> [percent]", "brightness", None),
    ("set_temperature", "set {target} to <degrees> degrees", "target_temperature", None),
    ("set_temperature", "set the temperature (in | of) [the] <room> to <degrees> [degrees]", "target_temperature",
     None),
    ("query_state", "is {target} (on | off)", "power", "power"),
    ("query_state", "what is the brightness of {target}", "brightness", "brightness"),
    ("query_state", "what is {target} set to", "target_temperature", "target_temperature"),
    ("query_state", "what is {target} set to", "brightness", "brightness"),
    ("query_state", "what is the temperature (in | of) [the] <room>", "current_temperature", "current_temperature"),
)
CAPABILITIES = ("power", "brightness", "target_temperature", "current_temperature")


@dataclass(frozen=True, slots=True)
class Phrase:
    """One concrete phrase (targets expanded)."""

    action: str
    """Intent action it expresses."""
    attribute: str | None
    """For queries: the state attribute asked about."""
    need: str
    """Capability a device needs for this phrase to make sense."""
    expansion: str
    """The phrase in JSGF syntax with generic `<room>`/`<device>` slots (what the intent regexes read)."""
    heard: str | None
    """The phrase as the speech grammar has it (targets limited to devices with `need`); None: not in the
    grammar."""


def command_shapes() -> list[tuple[str, str]]:
    """(action, expansion) of every state-changing phrase with its target left open (`<unknown>`): text of that
    shape names something this home lacks, and is refused rather than passed on."""
    out = []
    for action, phrase, _need, attribute in PHRASES:
        if attribute is not None:
            continue  # questions about unknown things go to the assistant
        shape = phrase.replace("{target}", UNKNOWN_TARGET).replace("[the] <room>", UNKNOWN_TARGET)
        if (action, shape) not in out:
            out.append((action, shape))
    return out


def expand_phrases() -> list[Phrase]:
    out, seen = [], set()
    for action, phrase, need, attribute in PHRASES:
        targets = TARGETS if "{target}" in phrase else (("", ""),)
        for generic, heard in targets:
            expansion = phrase.replace("{target}", generic)
            heard_phrase = None if heard is None else \
                phrase.replace("{target}", heard.format(need=need)).replace("<room>", f"<room_{need}>")
            if (expansion, heard_phrase) not in seen:
                seen.add((expansion, heard_phrase))
                out.append(Phrase(action, attribute, need, expansion, heard_phrase))
    return out


_TOKEN = re.compile(r"\s*(<[a-z_]+>|[()\[\]|]|[a-z']+)")


def _tokens(expansion: str) -> list[str]:
    pos, out = 0, []
    while pos < len(expansion.rstrip()):
        m = _TOKEN.match(expansion, pos)
        if m is None:
            raise ValueError(f"bad phrase syntax at {expansion[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def phrase_regex(expansion: str, slots: dict[str, str]) -> str:
    """A regex for `expansion` over text normalised to `word word ... ` (each word followed by one space).
    `slots` maps slot names to regexes of their alternatives; each becomes a named group."""
    out = []
    for tok in _tokens(expansion):
        if tok == "[":
            out.append("(?:")
        elif tok == "]":
            out.append(")?")
        elif tok == "(":
            out.append("(?:")
        elif tok in (")", "|"):
            out.append(tok)
        elif tok.startswith("<"):
            name = tok[1:-1]
            out.append(f"(?P<{name}>{slots[name]})")
        else:
            out.append(re.escape(tok) + " ")
    return "".join(out)


def alternatives_regex(phrases: list[str]) -> str:
    """`(?:living room |kitchen )`, longest first so the longer name wins."""
    ordered = sorted(set(phrases), key=len, reverse=True)
    return "(?:" + "|".join(re.escape(p) + " " for p in ordered) + ")"


def slot_values(home: Home) -> dict[str, list[str]]:
    """Spoken alternatives of each slot the intent regexes use."""
    return {
        "room": sorted({n for r in home.rooms for n in r.spoken}),
        "device": sorted({n for d in home.devices for n in d.spoken}),
        "percent": numbers.all_words(),
        "degrees": numbers.all_words(),
    }


def _degree_range(home: Home) -> range:
    return range(5, 36) if home.temperature_unit == "celsius" else range(40, 96)


def _target_rules(home: Home, need: str) -> list[str]:
    """`<room_NEED>`, `<room_device_NEED>`, `<device_in_room_NEED>`, `<device_NEED>`: only rooms and devices of
    this home that have the capability, and only room/device pairs that exist."""
    by_room: dict[str, set[str]] = {}
    for d in home.devices:
        if d.can(need):
            by_room.setdefault(d.room, set()).update(d.spoken)
    pairs, inverse, rooms_all = [], [], set()
    for room_id, devices in sorted(by_room.items()):
        spoken = sorted(home.room(room_id).spoken)
        rooms_all.update(spoken)
        rooms, devs = " | ".join(spoken), " | ".join(sorted(devices))
        pairs.append(f"( ({rooms}) ({devs}) )")
        inverse.append(f"( ({devs}) in [the] ({rooms}) )")
    every = " | ".join(sorted({n for devs in by_room.values() for n in devs}))
    return [f"<room_{need}> = {' | '.join(sorted(rooms_all))};", f"<room_device_{need}> = {' | '.join(pairs)};",
            f"<device_in_room_{need}> = {' | '.join(inverse)};", f"<device_{need}> = {every};"]


def build_jsgf(home: Home) -> str:
    """The JSGF grammar of every command phrase for this home. Targets are limited to devices that exist in the
    named room and can do what the phrase asks, and phrases no device can serve are left out: a tighter grammar
    leaves the recogniser fewer wrong paths."""
    present = {c for c in CAPABILITIES if any(d.can(c) for d in home.devices)}
    rules = [f"<percent> = {' | '.join(numbers.to_words(n) for n in range(numbers.MAX + 1))};",
             f"<degrees> = {' | '.join(numbers.to_words(n) for n in _degree_range(home))};"]
    for need in sorted(present):
        rules += _target_rules(home, need)
    phrases = [p for p in expand_phrases() if p.need in present and p.heard is not None]
    if not phrases:
        raise ConfigError("the home has no device that can be controlled or asked about")
    body = " | ".join(f"( {p.heard} )" for p in phrases)
    return "\n".join(["#JSGF V1.0;", "grammar hearth_home;", f"public <command> = {body};", *rules]) + "\n"


def vocabulary(home: Home) -> set[str]:
    """Every word the grammar can produce."""
    words = {t for p in expand_phrases() if p.heard is not None for t in _tokens(p.expansion) if t[0].isalpha()}
    for alts in slot_values(home).values():
        words |= {w for a in alts for w in a.split()}
    return words
