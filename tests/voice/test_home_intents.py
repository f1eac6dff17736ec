"""Home file, command phrases, the intent fast path and the simulated home."""

from __future__ import annotations

import pytest

from assistant.errors import ConfigError
from assistant.voice.executors import SimulatedHome
from assistant.voice.grammar import build_jsgf, vocabulary
from assistant.voice.home import EXAMPLE_HOME, load_home
from assistant.voice.intents import normalize


def test_example_home_is_the_default(home):
    assert EXAMPLE_HOME.name == "home_example.toml" and EXAMPLE_HOME.parent.name == "voice"
    assert {r.id for r in home.rooms} >= {"kitchen", "living_room", "bedroom", "bathroom", "office"}
    assert home.device("living_room_thermostat").can("target_temperature")
    assert home.device("kitchen_fan").capabilities == ("power",)


@pytest.mark.parametrize("body, problem", [
    ('rooms = [{id="a", name="kitchen"}]\ndevices = [{id="d", name="light", room="nowhere", type="light"}]',
     "unknown room"),
    ('rooms = [{id="a", name="Kitchen 2"}]\ndevices = []', "lowercase words"),
    ('rooms = [{id="a", name="x"}, {id="a", name="y"}]\ndevices = []', "duplicate room"),
    ('rooms = [{id="a", name="x"}]\ndevices = [{id="d", name="light", room="a", type="toaster"}]', "devices.0.type"),
    ('rooms = [', "cannot read home file"),
])
def test_invalid_home_files_are_config_errors(tmp_path, body, problem):
    path = tmp_path / "home.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=problem):
        load_home(path)
    with pytest.raises(ConfigError, match="not found"):
        load_home(tmp_path / "none.toml")


@pytest.mark.parametrize("text, action, devices, value, attribute", [
    ("Turn on the kitchen light.", "turn_on", ["kitchen_light"], None, None),
    ("switch the bedroom fan off", "turn_off", ["bedroom_fan"], None, None),
    ("turn off the lamp in the lounge", "turn_off", ["living_room_lamp"], None, None),
    ("Please set the living room light to 50%", "set_brightness", ["living_room_light"], 50, None),
    ("dim the desk lamp to twenty percent", "set_brightness", ["office_light"], 20, None),
    ("set the brightness of the bathroom light to 75", "set_brightness", ["bathroom_light"], 75, None),
    ("set the bedroom thermostat to 21 degrees", "set_temperature", ["bedroom_thermostat"], 21, None),
    ("set the temperature in the living room to twenty two", "set_temperature", ["living_room_thermostat"], 22, None),
    ("is the bathroom heater on?", "query_state", ["bathroom_heater"], None, "power"),
    ("what is the temperature in the office", "query_state", ["office_sensor"], None, "current_temperature"),
    ("what is the bedroom thermostat set to", "query_state", ["bedroom_thermostat"], None, "target_temperature"),
    ("what is the kitchen light set to", "query_state", ["kitchen_light"], None, "brightness"),
    ("what is the brightness of the floor lamp", "query_state", ["living_room_lamp"], None, "brightness"),
])
def test_commands_become_intents(recognizer, text, action, devices, value, attribute):
    intent = recognizer.recognize(text)
    assert intent is not None, text
    assert (intent.action, list(intent.device_ids), intent.value, intent.attribute) == (action, devices, value,
                                                                                        attribute)


@pytest.mark.parametrize("text", ["what is the capital of france", "tell me a joke", "turn on the", "", "   ",
                                  "turn it on", "set a timer for five minutes", "what is the temperature in paris"])
def test_other_text_is_not_a_command(recognizer, text):
    assert recognizer.recognize(text) is None


def test_named_device_that_does_not_exist_is_an_intent_without_devices(recognizer, home):
    intent = recognizer.recognize("turn on the bathroom fan")
    assert intent is not None and intent.device_ids == () and intent.room == "bathroom"
    result = SimulatedHome(home).execute(intent)
    assert not result.ok and result.speech == "I couldn't find a fan in the bathroom."


def test_normalize():
    assert normalize("Could you please turn ON the Kitchen light, thanks!") == "turn on the kitchen light"
    assert normalize("set it to 21°") == "set it to twenty one degrees"


def test_simulated_home_acts_and_answers(recognizer, home):
    sim = SimulatedHome(home)
    run = lambda text: sim.execute(recognizer.recognize(text))
    assert run("is the kitchen light on").speech == "The kitchen light is off."
    assert run("turn on the kitchen light").speech == "Turned on the kitchen light."
    assert sim.states["kitchen_light"]["on"] is True
    assert run("is the kitchen light on").speech == "The kitchen light is on."
    assert run("set the kitchen light to 30 percent").speech == "Set the kitchen light to 30 percent."
    assert sim.states["kitchen_light"]["brightness"] == 30
    assert run("set the bedroom thermostat to 23 degrees").ok and sim.states["bedroom_thermostat"][
        "target_temperature"] == 23
    assert run("what is the temperature in the office").speech == "It is 22 degrees in the office."
    refused = run("set the kitchen fan to 40 percent")
    assert not refused.ok and "can't" in refused.speech and "brightness" not in sim.states["kitchen_fan"]
    assert not run("set the bedroom thermostat to 90 degrees").ok


def test_grammar_and_regexes_agree(home, recognizer):
    """Every word the grammar can produce is in the speech dictionary, and the JSGF compiles."""
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL", lm=None, bestpath=False)
    assert not [w for w in vocabulary(home) if decoder.lookup_word(w) is None]
    decoder.add_jsgf_string("home", build_jsgf(home))


def test_home_with_unknown_words_is_rejected(tmp_path):
    from assistant.voice.asr import PocketsphinxRecognizer

    path = tmp_path / "home.toml"
    path.write_text('rooms = [{id="a", name="zorblax"}]\n'
                    'devices = [{id="d", name="light", room="a", type="light"}]\n')
    home = load_home(path)
    with pytest.raises(ConfigError, match="zorblax"):
        PocketsphinxRecognizer(build_jsgf(home), vocabulary(home), open_fallback=False)


@pytest.mark.parametrize("text, speech", [
    # The user's report: "turn on the hallway light" in a home without a hallway switched on every light.
    ("turn on the hallway light", "There is no hallway light in this home."),
    ("Turn on the garage door.", "There is no garage door in this home."),
    ("set the temperature in the hallway to 20 degrees", "There is no hallway in this home."),
    ("dim the porch lamp to 20%", "There is no porch lamp in this home."),
    ("turn on the light", ("Which light do you mean: the kitchen light, the living room light, the bedroom light, "
                           "the bathroom light or the office desk lamp?")),
    ("switch off the lamp", "Which lamp do you mean: the living room lamp or the office desk lamp?"),
    ("turn off the fans", "Which fans do you mean: the kitchen fan or the bedroom fan?"),
])
def test_a_command_never_reaches_more_than_it_names(refused, text, speech):
    assert refused(text).speech == speech  # refused or asked about, nothing switched


def test_only_an_explicit_all_reaches_several_devices(recognizer, home):
    sim = SimulatedHome(home)
    result = sim.execute(recognizer.recognize("turn on all the lights"))
    lights = [d.id for d in home.devices if {"light", "lights"} & set(d.spoken)]
    assert result.ok and len(lights) == 5 and all(sim.states[i]["on"] for i in lights)
    assert not sim.states["kitchen_fan"]["on"]  # "all the lights" is not "everything"
    result = sim.execute(recognizer.recognize("switch off all of the fans"))
    assert result.speech == "Turned off the kitchen fan and the bedroom fan."
    one = recognizer.recognize("turn off all the lights in the bedroom")
    assert one.all and one.device_ids == ("bedroom_light",)


def test_the_guard_holds_for_intents_built_elsewhere(home):
    """A tool call would build its Intent without the recogniser: the executor still refuses to widen it."""
    from assistant.voice.intents import Intent

    sim = SimulatedHome(home)
    every_light = tuple(d.id for d in home.devices if d.type == "light")
    result = sim.execute(Intent(action="turn_on", device_ids=every_light, room=None, device="light"))
    assert not result.ok and result.speech.startswith("Which light do you mean")
    assert not any(sim.states[i]["on"] for i in every_light if i != "living_room_light")
    result = sim.execute(Intent(action="turn_on", device_ids=(), room=None, unknown="hallway light"))
    assert not result.ok
