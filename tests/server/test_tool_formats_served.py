"""The native tool-call syntaxes end to end: the real server on the default model with Qwen2.5's and Llama 3.1's
own templates (`--chat-template-file`, as a GGUF of those models carries them), driven by the official `openai`
SDK. SmolLM2 speaks ChatML as Qwen does; what is tested is the path, not the model's judgement: the template is
given the tools, the grammar makes the model write its calls in that template's syntax, and they come back as
OpenAI tool calls, streamed or not, with the tool turns of the history rendered by the template."""

from __future__ import annotations

import json

import pytest
from conftest import start_server, stop_server
from tool_fixtures import TOOLS, check_call

from assistant.settings import DEFAULT_MODEL
from tests.chat_templates import FILES, template_dir

ASK = [{"role": "user", "content": "Turn on the kitchen light."}]


def _serve(model_home, model: str):
    path = template_dir(model_home) / FILES[model]
    return start_server(DEFAULT_MODEL, model_home, "--n-ctx", "2048", "--chat-template-file", str(path),
                        "--no-escalation-audit")


@pytest.fixture(scope="module")
def qwen(model_home):
    server = _serve(model_home, "qwen2.5")
    yield server
    stop_server(server)


def test_qwen_syntax_calls_come_back_as_openai_tool_calls(qwen):
    with qwen.client() as client:
        out = client.chat.completions.create(model="local", messages=ASK, tools=TOOLS, tool_choice="required",
                                             temperature=1.0, n=3, seed=2, max_tokens=128)
        for choice in out.choices:
            assert choice.finish_reason == "tool_calls" and choice.message.content is None, choice
            for call in choice.message.tool_calls:
                check_call(call.function.name, call.function.arguments)
        named = client.chat.completions.create(
            model="local", messages=ASK, tools=TOOLS, max_tokens=96, temperature=0,
            tool_choice={"type": "function", "function": {"name": "set_light"}}, parallel_tool_calls=False)
        [call] = named.choices[0].message.tool_calls
        check_call("set_light", call.function.arguments, {"set_light"})


def test_qwen_syntax_streams_deltas_the_sdk_reassembles(qwen):
    with qwen.client() as client, client.beta.chat.completions.stream(
            model="local", messages=ASK, tools=TOOLS, tool_choice="required", temperature=0,
            max_tokens=128) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    for call in choice.message.tool_calls:
        check_call(call.function.name, call.function.arguments)
    assert "<tool_call>" not in (choice.message.content or "")


def test_qwen_history_with_tool_turns_is_rendered_by_its_template(qwen):
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_7", "type": "function",
                    "function": {"name": "set_light", "arguments": json.dumps({"room": "kitchen", "on": True})}}]},
               {"role": "tool", "tool_call_id": "call_7", "content": '{"ok": true}'}]
    with qwen.client() as client:
        out = client.chat.completions.create(model="local", messages=history, tools=TOOLS, temperature=1.0,
                                             n=4, seed=1, max_tokens=64)
        plain = client.chat.completions.create(model="local", messages=history, tools=TOOLS, tool_choice="none",
                                               temperature=0, max_tokens=16)
    for choice in out.choices:  # `auto`: text (`<tool_response>` is text too), or calls in Qwen's tags
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            for call in choice.message.tool_calls:
                check_call(call.function.name, call.function.arguments)
        else:
            assert choice.message.content and not choice.message.content.startswith("<tool_call>")
    # the tools block of Qwen's system turn is in the prompt only when tools are offered (`none` shows none)
    assert out.usage.prompt_tokens > plain.usage.prompt_tokens + 200
    assert plain.choices[0].message.content and plain.choices[0].message.tool_calls is None


def test_llama_syntax_calls_have_parameters_and_come_back_as_arguments(model_home):
    server = _serve(model_home, "llama3.1")
    try:
        with server.client() as client:
            out = client.chat.completions.create(model="local", messages=ASK, tools=TOOLS, temperature=1.0, n=2,
                                                 seed=5, tool_choice="required", max_tokens=128)
    finally:
        stop_server(server)
    for choice in out.choices:
        [call] = choice.message.tool_calls  # Llama 3.1's template takes one call per turn
        check_call(call.function.name, call.function.arguments)


def test_ollama_show_reports_the_template_in_use(qwen, model_home):
    import ollama

    shown = ollama.Client(host=qwen.url, headers=qwen.headers(), timeout=60).show("local")
    assert shown.template == (template_dir(model_home) / FILES["qwen2.5"]).read_text(encoding="utf-8")


def test_mistral_syntax_calls_come_back_and_history_ids_are_mapped(model_home):
    """Mistral Nemo's template: calls as one JSON array after `[TOOL_CALLS]` (SmolLM2 spells the control token
    out; llama.cpp's grammar takes a model's real `[TOOL_CALLS]` token by the same text), and a history whose
    OpenAI call ids the template would refuse (it insists on 9 letters or digits)."""
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_7", "type": "function",
                    "function": {"name": "set_light", "arguments": json.dumps({"room": "kitchen", "on": True})}},
                   {"id": "call_8", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "call_7", "content": '{"ok": true}'},
               {"role": "tool", "tool_call_id": "call_8", "content": '"12:00"'},
               {"role": "assistant", "content": "Done; it is 12:00."},  # Mistral's roles must alternate
               {"role": "user", "content": "And the bedroom too."}]
    server = _serve(model_home, "mistral-nemo")
    try:
        with server.client() as client:
            out = client.chat.completions.create(model="local", messages=ASK, tools=TOOLS, temperature=1.0, n=3,
                                                 seed=3, tool_choice="required", max_tokens=400)
            later = client.chat.completions.create(model="local", messages=history, tools=TOOLS, temperature=0,
                                                   tool_choice="required", max_tokens=96)
            with client.beta.chat.completions.stream(model="local", messages=ASK, tools=TOOLS, temperature=0,
                                                     tool_choice="required", max_tokens=160) as stream:
                streamed = stream.get_final_completion()
    finally:
        stop_server(server)
    for choice in [*out.choices, *later.choices, *streamed.choices]:
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, choice
        assert "TOOL_CALLS" not in (choice.message.content or "")
        for call in choice.message.tool_calls:
            check_call(call.function.name, call.function.arguments)
