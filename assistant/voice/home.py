"""The home description: rooms, devices and what each device can do (a TOML file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXAMPLE_HOME = Path(__file__).with_name("home_example.toml")
"""The home used when settings name none."""

Capability = Literal["power", "brightness", "target_temperature", "current_temperature"]
DeviceType = Literal["light", "switch", "fan", "thermostat", "sensor"]

DEFAULT_CAPABILITIES: dict[str, tuple[Capability, ...]] = {
    "light": ("power", "brightness"),
    "switch": ("power",),
    "fan": ("power",),
    "thermostat": ("power", "target_temperature", "current_temperature"),
    "sensor": ("current_temperature",),
}
_PHRASE = re.compile(r"^[a-z]+( [a-z]+)*$")


def _phrase(value: str) -> str:
    value = " ".join(value.lower().split())
    if not _PHRASE.match(value):
        raise ValueError(f"{value!r} must be lowercase words separated by spaces (it is spoken)")
    return value


class _Named(BaseModel):
    """Shared by rooms and devices: spoken names are normalised the way the recogniser hears them."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str) -> str:
        return _phrase(v)

    @field_validator("aliases", check_fields=False)
    @classmethod
    def _aliases(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_phrase(a) for a in v)

    @property
    def spoken(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)  # type: ignore[attr-defined]


class Room(_Named):
    """A room, named the way people say it."""

    id: str
    """Stable identifier, e.g. `living_room`."""
    name: str
    """Spoken name, e.g. `living room`."""
    aliases: tuple[str, ...] = ()
    """Other spoken names, e.g. `lounge`."""


class Device(_Named):
    """A controllable or readable device in a room."""

    id: str
    """Stable identifier, e.g. `kitchen_light`."""
    name: str
    """Spoken name without the room, e.g. `light`, `ceiling fan`."""
    room: str
    """Id of the room it is in."""
    type: DeviceType
    """What kind of device it is (sets default capabilities)."""
    capabilities: tuple[Capability, ...] = ()
    """What it can do; default: by type (light: power+brightness, thermostat: power+temperatures, ...)."""
    aliases: tuple[str, ...] = ()
    """Other spoken names, e.g. `lights`, `lamp`."""
    entity_id: str | None = None
    """Home Assistant entity id (`light.kitchen`) used by the REST adapter."""
    state: dict[str, float | bool] = Field(default_factory=dict)
    """Initial state for the simulated home: `on`, `brightness` (0-100), `target_temperature`, `temperature`."""

    @model_validator(mode="after")
    def _defaults(self) -> Device:
        if not self.capabilities:
            object.__setattr__(self, "capabilities", DEFAULT_CAPABILITIES[self.type])
        if self.entity_id is not None and "." not in self.entity_id:
            raise ValueError(f"entity_id {self.entity_id!r} must look like `domain.object_id`")
        return self

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


class Home(BaseModel):
    """Rooms and devices."""

    model_config = ConfigDict(extra="forbid")

    name: str = "home"
    """A label for logs and the Wyoming info."""
    temperature_unit: Literal["celsius", "fahrenheit"] = "celsius"
    """How temperatures are spoken."""
    rooms: tuple[Room, ...]
    """Every room."""
    devices: tuple[Device, ...]
    """Every device."""

    @model_validator(mode="after")
    def _consistent(self) -> Home:
        room_ids = [r.id for r in self.rooms]
        device_ids = [d.id for d in self.devices]
        for label, ids in (("room", room_ids), ("device", device_ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} id(s): {dupes}")
        missing = sorted({d.room for d in self.devices} - set(room_ids))
        if missing:
            raise ValueError(f"devices refer to unknown room(s): {missing}")
        return self

    def room(self, room_id: str) -> Room:
        return next(r for r in self.rooms if r.id == room_id)

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)

    def spoken_words(self) -> set[str]:
        """Every word of every room and device name (the grammar's vocabulary beyond the fixed phrases)."""
        names = [n for r in self.rooms for n in r.spoken] + [n for d in self.devices for n in d.spoken]
        return {w for n in names for w in n.split()}


def load_home(path: Path | None = None) -> Home:
    """Read a home TOML file (default: the shipped example)."""
    path = Path(path) if path is not None else EXAMPLE_HOME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"home file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read home file {path}: {exc}") from None
    try:
        return Home.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'home'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid home file {path}: {problems}") from None
