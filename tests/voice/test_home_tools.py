"""The home's devices as tools: utterances about the home that the command grammar cannot parse reach the real
default model with the home's tools, and its call is carried out (and refused) exactly as a spoken command."""

from __future__ import annotations

import json

import pytest

from assistant.engine.events import ToolCall
from assistant.errors import InvalidRequestError
from assistant.tools.grammar import tools_grammar
from assistant.voice.executors import IntentResult, SimulatedHome
from assistant.voice.home import load_home
from assistant.voice.home_tools import about_the_home, home_tool_spec, intent_from_call, places
from assistant.voice.intents import IntentRecognizer
from assistant.voice.responder import Responder, Response


@pytest.fixture(scope="module")
def home():
    return load_home()


def call(name: str, **args) -> ToolCall:
    return ToolCall(id="call_0", name=name, arguments=json.dumps(args))


def test_tools_name_only_the_devices_of_this_home_that_can_do_it(home):
    spec = home_tool_spec(home)
    tools = {t.name: t.parameters["properties"] for t in spec.tools}
    assert set(tools) == {"set_power", "set_brightness", "set_temperature", "get_state"}
    assert set(tools["set_brightness"]["device"]["enum"]) == {d.id for d in home.devices if d.can("brightness")}
    assert set(tools["set_temperature"]["device"]["enum"]) == {
        d.id for d in home.devices if d.can("target_temperature")}
    assert set(tools["get_state"]["device"]["enum"]) == {d.id for d in home.devices}
    assert spec.must_call and not spec.parallel
    assert tools_grammar(spec)  # every schema keyword is one the grammar enforces


@pytest.mark.parametrize(("tool", "args", "spoken"), [
    ("set_power", {"device": "kitchen_light", "on": True}, "turn on the kitchen light"),
    ("set_power", {"device": "living_room_lamp", "on": False}, "turn off the living room lamp"),
    ("set_brightness", {"device": "living_room_lamp", "percent": 30}, "set the living room lamp to 30 percent"),
    ("get_state", {"device": "kitchen_light", "attribute": "power"}, "is the kitchen light on"),
])
def test_a_call_is_the_intent_of_the_same_spoken_command(home, tool, args, spoken):
    assert intent_from_call(home, call(tool, **args)) == IntentRecognizer(home).recognize(spoken)


def test_calls_outside_the_home_or_its_ranges_are_refused(home):
    refusal = intent_from_call(home, call("set_brightness", device="kitchen_light", percent=150))
    assert isinstance(refusal, IntentResult) and not refusal.ok and "0 to 100" in refusal.speech
    with pytest.raises(InvalidRequestError, match="names no device"):
        intent_from_call(home, call("set_power", device="garage_door", on=True))
    with pytest.raises(InvalidRequestError, match="not one of the home's tools"):
        intent_from_call(home, call("unlock", device="kitchen_light"))
    too_hot = intent_from_call(home, call("set_temperature", device=home_tool_spec(home).tools[2]
                                          .parameters["properties"]["device"]["enum"][0], degrees=90))
    assert not SimulatedHome(home).execute(too_hot).ok  # the executor's own check still applies


def test_which_utterances_go_with_the_tools(home):
    assert about_the_home(home, "It's too dark in here.")
    assert about_the_home(home, "Make the lounge cosy")
    assert about_the_home(home, "I'm cold")
    for question in ("What is the capital of France?", "What is the speed of light?", "How hot is the sun?"):
        assert not about_the_home(home, question)


def test_the_model_acts_on_an_utterance_the_grammar_cannot_parse(voice_settings, engine, home):
    from assistant.assistant import Assistant

    assistant = Assistant(engine, voice_settings)
    simulated = SimulatedHome(home)
    before = json.loads(json.dumps(simulated.states))
    responder = Responder(IntentRecognizer(home), simulated, lambda: assistant, voice_settings.voice,
                          voice_settings.sampling)
    response = responder.respond("It is much too dark in the kitchen, please help.")
    spoken = list(response.sentences())
    assert response.source == "assistant" and response.error is None, response.error
    assert response.tool_call is not None and response.result is not None
    assert spoken == [response.result.speech]
    intent = response.intent
    if intent is not None and response.result.ok:  # carried out: the home is as the call asked
        [device] = intent.device_ids
        state = simulated.states[device]
        expected = {"turn_on": {"on": True}, "turn_off": {"on": False}, "set_brightness": {"brightness": intent.value},
                    "set_temperature": {"target_temperature": intent.value}, "query_state": before[device]}
        assert {k: state[k] for k in expected[intent.action]} == expected[intent.action]
    # A question about something else is answered as a question, with no call.
    other = responder.respond("What is the capital of France?")
    assert list(other.sentences()) and other.tool_call is None and other.error is None


def test_a_place_the_home_lacks_is_refused_and_a_call_acts_only_in_the_rooms_named(home, voice_settings):
    """Never widen (issue 16): "it's freezing in the garage" is not acted on in some other room, and a call for a
    device outside the room the utterance named is not carried out."""
    assert places(home, "It's freezing in the garage.") == (frozenset(), "garage")
    assert places(home, "It's too dark in the dining room") == (frozenset(), "dining room")
    assert places(home, "make the lounge cosy") == (frozenset({"living_room"}), None)
    assert places(home, "it's too cold in here") == (frozenset(), None)
    simulated = SimulatedHome(home)
    before = json.loads(json.dumps(simulated.states))
    responder = Responder(IntentRecognizer(home), simulated, None, voice_settings.voice, voice_settings.sampling)
    refused = responder.respond("It's freezing in the garage.")  # no model is asked (there is none here)
    assert list(refused.sentences()) == ["There is no garage in this home."] and not refused.result.ok
    response = Response(source="assistant", acts=True, _rooms=frozenset({"kitchen"}))
    spoken = responder._act(call("set_power", device="bedroom_light", on=True), response)
    assert spoken == "I'm not sure what to do in the kitchen." and not response.result.ok
    assert simulated.states == before
    assert responder._act(call("set_power", device="kitchen_light", on=True), response) == \
        "Turned on the kitchen light."
