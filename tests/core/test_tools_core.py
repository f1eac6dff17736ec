"""The core of tool calling: the request's spec, the generic prompt, the grammar, the parser of calls, and an
Assistant answering with calls on the real default model."""

from __future__ import annotations

import json

import jsonschema
import pytest

from assistant.engine import ChatMessage, SamplingParams, TextDelta, ToolCall, ToolCallDelta
from assistant.engine.chat_template import ChatTemplate
from assistant.errors import InvalidRequestError
from assistant.tools import CallParser, Tool, ToolSpec, generic_messages

LIGHT = Tool("set_light", "Turn a light on or off", {
    "type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]},
                                     "on": {"type": "boolean"}}, "required": ["room", "on"]})
CLOCK = Tool("get_time", "The time")


def test_spec_refuses_bad_names_and_choices():
    with pytest.raises(InvalidRequestError, match="tools\\[1\\]"):
        ToolSpec((LIGHT, Tool("set light")))
    with pytest.raises(InvalidRequestError, match="used twice"):
        ToolSpec((LIGHT, LIGHT))
    with pytest.raises(InvalidRequestError, match="not in 'tools'"):
        ToolSpec((LIGHT,), "named", "nope")
    with pytest.raises(InvalidRequestError, match="at least one tool"):
        ToolSpec((), "required")
    with pytest.raises(InvalidRequestError, match="surrogate"):
        ToolSpec((Tool("f", "caf\udce9"),))


def test_grammar_refuses_what_it_cannot_enforce():
    bad = Tool("f", "", {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}})
    with pytest.raises(InvalidRequestError, match="maximum") as exc:
        _ = ToolSpec((LIGHT, bad)).grammar
    assert exc.value.param == "tools[1].function.parameters"
    with pytest.raises(InvalidRequestError, match="object schema"):
        _ = ToolSpec((Tool("g", "", {"type": "string"}),)).grammar
    assert ToolSpec((LIGHT,), "none").grammar is None


def test_generic_prompt_describes_tools_and_rewrites_tool_turns():
    call = ToolCall("call_1", "set_light", '{"room": "hall", "on": true}')
    history = [ChatMessage("user", "hall light"), ChatMessage("assistant", "", tool_calls=(call,)),
               ChatMessage("tool", "ok", tool_call_id="call_1"), ChatMessage("tool", "done", tool_call_id="x")]
    out = generic_messages(history, ToolSpec((LIGHT, CLOCK), "auto"))
    assert [m.role for m in out] == ["system", "user", "assistant", "user"]
    assert '"name": "set_light"' in out[0].content and "get_time" in out[0].content
    assert json.loads(out[2].content) == {"name": "set_light", "arguments": {"room": "hall", "on": True}}
    assert out[3].content == "Result of set_light (call call_1): ok\nResult of the tool (call x): done"
    assert all(not m.tool_calls and m.tool_call_id is None for m in out)
    named = generic_messages([ChatMessage("system", "Be brief."), history[0]], ToolSpec((LIGHT, CLOCK), "named",
                                                                                       "get_time"))
    assert named[0].content.startswith("Be brief.\n\n") and "set_light" not in named[0].content


def _feed(parser: CallParser, text: str, size: int) -> list:
    events = []
    for i in range(0, len(text), size):
        events += parser.feed(text[i:i + size])
    return events + parser.flush()


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_parser_emits_calls_as_they_complete(size):
    spec = ToolSpec((LIGHT, CLOCK))
    text = '{"name": "set_light", "arguments": {"room": "kitchen", "on": true}}\n{"name":"get_time","arguments":{}}'
    events = _feed(CallParser(spec), text, size)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(e.name, json.loads(e.arguments), e.index) for e in calls] == [
        ("set_light", {"room": "kitchen", "on": True}, 0), ("get_time", {}, 1)]
    assert len({e.id for e in calls}) == 2
    # each call streamed in pieces first: id and name, then fragments that join into its arguments
    for call in calls:
        pieces = [e for e in events if isinstance(e, ToolCallDelta) and e.id == call.id]
        assert pieces[0].arguments == "" and {(p.name, p.index) for p in pieces} == {(call.name, call.index)}
        assert "".join(p.arguments for p in pieces) == call.arguments
        assert events.index(pieces[-1]) < events.index(call)
    assert "".join(e.text for e in _feed(CallParser(spec), "Hi {there}", size)) == "Hi {there}"
    cut = _feed(CallParser(spec), '{"name": "set_light", "argu', size)  # cut by max_tokens: text, not a call
    assert [type(e) for e in cut] == [TextDelta]


def test_streamed_arguments_escape_raw_control_characters():
    """The grammar's strings may hold a raw newline; the clients' strict JSON parsers refuse one."""
    text = '{"name": "set_light", "arguments": {"room": "kit\nchen", "on": true} }'
    for size in (1, 4, len(text)):
        events = _feed(CallParser(ToolSpec((LIGHT,))), text, size)
        [call] = [e for e in events if isinstance(e, ToolCall)]
        assert call.arguments == '{"room": "kit\\u000achen", "on": true}'
        assert json.loads(call.arguments) == {"room": "kit\nchen", "on": True}
        assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == call.arguments


def test_template_receives_tools_and_tool_calls():
    source = ("{% for t in tools %}T:{{ t.function.name }};{% endfor %}{% for m in messages %}{{ m.role }}:"
              "{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments.room }}{% else %}{{ m.content }}"
              "{% endif %}{% if m.tool_call_id %}@{{ m.tool_call_id }}{% endif %};{% endfor %}")
    template = ChatTemplate(source)
    call = ToolCall("c1", "set_light", '{"room": "hall", "on": true}')
    text = template.render([ChatMessage("assistant", "", tool_calls=(call,)),
                            ChatMessage("tool", "ok", tool_call_id="c1")], add_generation_prompt=False,
                           tools=[{"type": "function", "function": {"name": "set_light"}}])
    assert text == "T:set_light;assistant:hall;tool:ok@c1;"
    assert template.knows_tools and not ChatTemplate("{{ messages[0].content }}").knows_tools


def test_assistant_answers_with_valid_calls(engine):
    from assistant.assistant import ChatRequest
    from assistant.runtime import build_assistant
    from assistant.settings import load_settings

    assistant = build_assistant(load_settings(model=str(engine.info.path), escalation={"enabled": False}), engine)
    spec = ToolSpec((LIGHT, CLOCK), "required", parallel=False)
    for seed in range(4):
        reply = assistant.complete(ChatRequest(messages=[ChatMessage("user", "Kitchen light on")], tools=spec,
                                               params=SamplingParams(temperature=1.0, seed=seed, max_tokens=64)))
        [call] = reply.tool_calls
        assert reply.text == "" and reply.decision.route == "local"
        schema = LIGHT.parameters if call.name == "set_light" else {"type": "object", "maxProperties": 0}
        jsonschema.validate(json.loads(call.arguments), schema)
