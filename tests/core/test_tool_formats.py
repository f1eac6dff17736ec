"""Native tool-call syntaxes, on the real templates of Qwen2.5 and Llama 3.1 (tests/chat_templates.py): the
syntax read off the template, the prompt it renders with tools and tool turns, the grammar, and calls parsed back
out of streamed text."""

from __future__ import annotations

import json

import pytest

from assistant.engine.chat_template import CHATML, ChatTemplate
from assistant.engine.events import ChatMessage, TextDelta, ToolCall
from assistant.engine.llamacpp_sampler import check_grammar
from assistant.errors import InvalidRequestError
from assistant.tools import CallParser, Tool, ToolSpec, call_format, local_view
from assistant.tools.grammar import tools_grammar
from tests.chat_templates import read_template
from tests.grammar_walk import GrammarWalk

LIGHT = Tool("set_light", "Turn a room's light on or off.",
             {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]},
                                               "on": {"type": "boolean"}}, "required": ["room", "on"]})
CLOCK = Tool("get_time", "The current time.")
CALL = ToolCall(id="call_1", name="set_light", arguments='{"room": "kitchen", "on": true}')
HISTORY = [ChatMessage("system", "You run a home."), ChatMessage("user", "Kitchen light on, please."),
           ChatMessage("assistant", "", tool_calls=(CALL,)),
           ChatMessage("tool", '{"ok": true}', tool_call_id="call_1"), ChatMessage("user", "Thanks!")]


@pytest.fixture(scope="module")
def template(model_home):
    return lambda model: ChatTemplate(read_template(model_home, model), bos_token="<s>", eos_token="</s>")


def test_the_syntax_is_read_off_the_template(template):
    assert template("qwen2.5").tool_syntax == "hermes"
    assert template("llama3.1").tool_syntax == "llama3"
    assert template("mistral-nemo").tool_syntax == "mistral"
    assert ChatTemplate("{% if tools %}{{ '[TOOL_CALLS]' + name + '[ARGS]' }}{% endif %}").tool_syntax == "generic"
    assert ChatTemplate(CHATML).tool_syntax == "generic"
    # `<tool_call>` around an XML body (Qwen3-Coder, GLM-4.5) is not the JSON syntax parsed here
    xml = "{% if tools %}{{- '<tool_call>\\n<function=' + tool.name + '>' }}{% endif %}"
    assert ChatTemplate(xml).tool_syntax == "generic"
    hermes3 = "{% if tools %}{{- \"<tool_call>\n\" }}\n{{- '{\"name\": <function-name>}' }}{% endif %}"
    assert ChatTemplate(hermes3).tool_syntax == "hermes"


def test_qwen_is_shown_the_tools_and_its_own_tool_turns(template):
    spec = ToolSpec((LIGHT, CLOCK))
    messages, tools = local_view(HISTORY, spec, call_format("hermes"))
    assert messages == HISTORY and [t["function"]["name"] for t in tools] == ["set_light", "get_time"]
    text = template("qwen2.5").render(messages, tools=tools)
    assert "<tools>\n" + json.dumps(tools[0], ensure_ascii=False) in text
    assert text.startswith("<|im_start|>system\nYou run a home.\n\n# Tools")
    assert '<tool_call>\n{"name": "set_light", "arguments": {"room": "kitchen", "on": true}}\n</tool_call>' in text
    assert "<|im_start|>user\n<tool_response>\n{\"ok\": true}\n</tool_response><|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_llama_is_shown_the_tools_and_its_own_tool_turns(template):
    messages, tools = local_view(HISTORY, ToolSpec((LIGHT,)), call_format("llama3"))
    text = template("llama3.1").render(messages, tools=tools)
    assert "Environment: ipython" in text and '"name": "set_light"' in text
    assert '{"name": "set_light", "parameters": {"room": "kitchen", "on": true}}<|eot_id|>' in text
    assert "<|start_header_id|>ipython<|end_header_id|>" in text


def test_the_generic_format_keeps_rewriting_for_templates_without_tools():
    messages, tools = local_view(HISTORY, ToolSpec((LIGHT,)), call_format("generic"))
    assert tools is None and all(not m.tool_calls and m.role != "tool" for m in messages)


@pytest.mark.parametrize("syntax", ["hermes", "llama3", "mistral", "generic"])
@pytest.mark.parametrize("choice", ["auto", "required", "named"])
def test_every_format_has_a_grammar_llama_cpp_takes(syntax, choice):
    spec = ToolSpec((LIGHT, CLOCK), choice=choice, name="set_light" if choice == "named" else None)
    grammar = tools_grammar(spec, call_format(syntax))
    check_grammar(grammar, "tools")
    if syntax == "hermes":
        assert '"<tool_call>\\n" hearth-object "\\n</tool_call>"' in grammar
        assert ("hearth-text ::= [^<]" in grammar) == (choice == "auto")
        assert spec.grammar_for(call_format(syntax)) is spec.grammar_for(call_format(syntax))  # built once
    if syntax == "llama3":
        assert "parameters" in grammar and "( " not in grammar.split("\n")[0]  # one call per turn
    if syntax == "mistral":
        assert grammar.startswith('root ::= "[TOOL_CALLS]" " "? "[" hearth-call ( ", " hearth-call )* "]"')


def _parse(spec, syntax, pieces):
    parser = CallParser(spec, call_format(syntax))
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.flush()
    return [e for e in events if isinstance(e, ToolCall)], "".join(e.text for e in events if isinstance(e, TextDelta))


def test_hermes_calls_are_parsed_out_of_their_tags_as_they_stream():
    text = ('<tool_call>\n{"name": "set_light", "arguments": {"room": "hall", "on": false}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
    for size in (1, 3, 7, len(text)):
        calls, rest = _parse(ToolSpec((LIGHT, CLOCK)), "hermes", [text[i:i + size] for i in range(0, len(text), size)])
        assert [(c.name, json.loads(c.arguments), c.index) for c in calls] == \
            [("set_light", {"room": "hall", "on": False}, 0), ("get_time", {}, 1)] and rest == "", size
    # a closing tag cut short by the token limit is dropped; a call cut short stays text
    calls, rest = _parse(ToolSpec((LIGHT,)), "hermes", [text[:text.index("</tool_call>") + 5]])
    assert len(calls) == 1 and rest == ""
    calls, rest = _parse(ToolSpec((LIGHT,)), "hermes", ['<tool_call>\n{"name": "set_light", "argu'])
    assert calls == [] and rest == '<tool_call>\n{"name": "set_light", "argu'
    # a second call cut short after a whole one: it stays text, without the first call's closing tag
    cut = text[:text.index('"get_time"') + 5]
    calls, rest = _parse(ToolSpec((LIGHT, CLOCK)), "hermes", [cut[i:i + 4] for i in range(0, len(cut), 4)])
    assert len(calls) == 1 and rest == '<tool_call>\n{"name": "get_'


@pytest.mark.parametrize("pieces", [["<think>", "\nPlanning.</think>", " Done."], ["<", "t", "hink> x"],
                                    ["<b>bold</b>"], ["<tool"], ["<tool_c", "all"]])
def test_text_that_begins_with_part_of_the_tag_is_text(pieces):
    """Qwen3 and SmolLM3 (also `<tool_call>` templates) open their answers with `<think>`."""
    calls, rest = _parse(ToolSpec((LIGHT,)), "hermes", pieces)
    assert calls == [] and rest == "".join(pieces)


def test_the_auto_grammar_lets_text_begin_with_part_of_the_tag_but_not_all_of_it(default_model_path):
    grammar = tools_grammar(ToolSpec((LIGHT,)), call_format("hermes"))
    call = '<tool_call>\n{"name": "set_light", "arguments": {"room": "hall", "on": true}}\n</tool_call>'
    with GrammarWalk(default_model_path) as walk:
        for text in ("<think>\nThe hall.</think>", "<b>Hi</b>", "It is on.", "<tool", call):
            assert walk.accepts(grammar, text), text
        for text in ("<tool_call>It is on.", '<tool_call>\n{"name": "get_time"', "<tool_call>\n<function=x>"):
            assert not walk.accepts(grammar, text), text


def test_several_calls_in_one_turn_become_one_turn_each_for_llama(template):
    """A cloud's parallel calls in the history: Llama 3.1's template refuses a turn with two calls."""
    second = ToolCall(id="call_2", name="get_time", arguments="{}")
    history = [ChatMessage("user", "Light on, and the time?"),
               ChatMessage("assistant", "Sure.", tool_calls=(CALL, second)),
               ChatMessage("tool", "12:00", tool_call_id="call_2"), ChatMessage("tool", '{"ok": true}',
                                                                              tool_call_id="call_1"),
               ChatMessage("user", "Thanks!")]
    with pytest.raises(InvalidRequestError):
        template("llama3.1").render(history, tools=local_view(history, ToolSpec((LIGHT, CLOCK)),
                                                              call_format("hermes"))[1])
    messages, tools = local_view(history, ToolSpec((LIGHT, CLOCK)), call_format("llama3"))
    assert [(m.role, m.content, [c.id for c in m.tool_calls], m.tool_call_id) for m in messages[1:5]] == [
        ("assistant", "Sure.", ["call_1"], None), ("tool", '{"ok": true}', [], "call_1"),
        ("assistant", "", ["call_2"], None), ("tool", "12:00", [], "call_2")]
    text = template("llama3.1").render(messages, tools=tools)
    assert text.count("<|start_header_id|>ipython<|end_header_id|>") == 2
    assert local_view(history, ToolSpec((LIGHT, CLOCK)), call_format("hermes"))[0] == history


def test_llama_calls_carry_parameters_and_text_stays_text():
    pieces = ['{"name": "set_light", ', '"parameters": {"room": "kitchen", ', '"on": true}}']
    calls, rest = _parse(ToolSpec((LIGHT,)), "llama3", pieces)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("set_light", {"room": "kitchen", "on": True})]
    calls, rest = _parse(ToolSpec((LIGHT,)), "hermes", ["It is ", "bright already."])
    assert calls == [] and rest == "It is bright already."


def test_mistral_calls_are_read_out_of_their_array_as_they_stream():
    text = '[TOOL_CALLS] [{"name": "set_light", "arguments": {"room": "hall", "on": false}}, ' \
           '{"name": "get_time", "arguments": {}}]'
    for size in (1, 5, len(text)):
        calls, rest = _parse(ToolSpec((LIGHT, CLOCK)), "mistral", [text[i:i + size] for i in range(0, len(text), size)])
        assert [(c.name, c.index) for c in calls] == [("set_light", 0), ("get_time", 1)] and rest == "", size
    cut = text[:text.index('"get_time"') + 4]
    calls, rest = _parse(ToolSpec((LIGHT, CLOCK)), "mistral", [cut])
    assert len(calls) == 1 and rest == '{"name": "get'
    calls, rest = _parse(ToolSpec((LIGHT,)), "mistral", ["[1] The ", "hall light is off."])
    assert calls == [] and rest == "[1] The hall light is off."


def test_mistral_is_shown_the_tools_and_history_ids_it_accepts(template):
    """Mistral's templates refuse call ids that are not 9 letters or digits (OpenAI's are `call_...`)."""
    history = [*HISTORY[:4], ChatMessage("assistant", "Done."), HISTORY[4]]  # its roles must alternate
    messages, tools = local_view(history, ToolSpec((LIGHT, CLOCK)), call_format("mistral"))
    with pytest.raises(InvalidRequestError, match="length 9"):
        template("mistral-nemo").render(history, tools=tools)
    text = template("mistral-nemo").render(messages, tools=tools)
    [short] = {c.id for m in messages for c in m.tool_calls}
    assert len(short) == 9 and short.isalnum() and messages[3].tool_call_id == short
    assert '[TOOL_CALLS][{"name": "set_light", "arguments": {"room": "kitchen", "on": true}, "id": "' + short in text
    assert '[AVAILABLE_TOOLS][{"type": "function"' in text and f'"call_id": "{short}"}}[/TOOL_RESULTS]' in text


def test_the_grammar_takes_a_control_token_by_its_text(default_model_path):
    """What lets the grammar match Mistral's `[TOOL_CALLS]` token: llama.cpp judges each token by its text with
    special tokens rendered (SmolLM2's control token `<|im_start|>` here)."""
    with GrammarWalk(default_model_path) as walk:
        [token] = walk.tokens("<|im_start|>", special=True)
        assert walk.accepts_tokens('root ::= "<|im_start|>" "user"', [token, *walk.tokens("user")])
        assert not walk.accepts_tokens('root ::= "<|im_end|>" "user"', [token, *walk.tokens("user")])
