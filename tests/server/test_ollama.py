"""Ollama's API on the live server, driven by the official `ollama` Python client (and, for what the client
does not show, httpx): chat streamed and whole, generate, list, show, ps, version, pull, errors in Ollama's
shape, and the requests Home Assistant's Ollama integration makes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from conftest import start_server, stop_server

from assistant.settings import DEFAULT_MODEL
from tests.escalation.cloud_server import PREFIX, FakeCloud, Fault

ollama = pytest.importorskip("ollama", reason="the ollama client is not installed (pip install ollama)")

SHORT = {"num_predict": 6, "seed": 7}
HI = [{"role": "user", "content": "hi"}]
# What Home Assistant's Ollama integration sends on every chat (homeassistant/components/ollama/entity.py):
# its system prompt, the user's words, the Assist API's tools, keep_alive -1, its num_ctx option, think false.
HA_TOOLS = [{"type": "function", "function": {
    "name": "HassTurnOn", "description": "Turns on/opens/presses a device or entity",
    "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "area": {"type": "string"}},
                   "required": []}}}]
HA_SYSTEM = ("You are a voice assistant for Home Assistant. Answer questions about the world truthfully. "
             "Answer in plain text. Keep it simple and to the point.")


@pytest.fixture
def oc(live):
    return ollama.Client(host=live.url, headers=live.headers(), timeout=120)


def test_list_show_ps_and_version(oc, live):
    listed = oc.list()
    names = [m.model for m in listed.models]
    assert names[:2] == ["smollm2-135m-instruct", "local"] and "hearth-test" in names
    first = listed.models[0]
    assert first.size == 98362432 and len(first.digest) == 64 and first.modified_at is not None
    assert first.details.format == "gguf" and first.details.family == "llama"
    assert first.details.quantization_level == "Q4_1" and first.details.parameter_size == "135M"

    shown = oc.show("local:latest")
    info = shown.modelinfo
    assert info["general.architecture"] == "llama" and info["llama.context_length"] == 8192
    assert "<|im_start|>" in shown.template and shown.capabilities == ["completion", "tools"]
    assert "num_ctx 1024" in shown.parameters and "num_predict 16" in shown.parameters
    assert shown.details.quantization_level == "Q4_1" and shown.license == "apache-2.0"

    running = oc.ps().models
    assert [m.model for m in running] == ["smollm2-135m-instruct"] and running[0].context_length == 1024

    import assistant

    assert httpx.get(live.url + "/api/version", headers=live.headers(), timeout=10).json() == {
        "version": assistant.__version__}


def test_chat_streamed_and_whole(oc):
    messages = [{"role": "system", "content": "You are brief."},
                {"role": "user", "content": "Name a colour."}]
    parts = list(oc.chat(model="local", messages=messages, stream=True, options=SHORT))
    *deltas, last = parts
    assert deltas and all(not p.done and p.message.role == "assistant" for p in deltas)
    assert last.done and last.done_reason in ("stop", "length") and last.message.content == ""
    assert 0 < last.eval_count <= 6 and last.prompt_eval_count > 10
    assert last.total_duration >= last.prompt_eval_duration > 0 and last.load_duration == 0
    streamed = "".join(p.message.content for p in deltas)

    whole = oc.chat(model="local", messages=messages, stream=False, options=SHORT)
    assert whole.done and whole.model == "local" and whole.created_at.endswith("Z")
    assert whole.message.content == streamed  # same seed, same answer, streamed or not
    assert whole.eval_count == last.eval_count


def test_generate_streamed_whole_and_raw(oc):
    parts = list(oc.generate(model="local", prompt="Say hi.", system="Answer in English.", stream=True,
                             options=SHORT))
    assert parts[-1].done and all(p.response for p in parts[:-1])
    whole = oc.generate(model="local", prompt="Say hi.", system="Answer in English.", options=SHORT)
    assert whole.response == "".join(p.response for p in parts[:-1])
    raw = oc.generate(model="local", prompt="The capital of France is", raw=True, options={"num_predict": 3})
    assert raw.done and raw.prompt_eval_count <= 8  # no chat template around the prompt
    loaded = oc.generate(model="local", prompt="")  # Ollama's "load the model" request
    assert loaded.done and loaded.done_reason == "load" and loaded.response == ""


def test_options_and_format(oc):
    cut = oc.chat(model="local", messages=[{"role": "user", "content": "Count to twenty."}],
                  options={"num_predict": 3, "temperature": 0, "num_ctx": 8192, "num_thread": 4,
                           "mirostat": 0, "repeat_last_n": -1, "top_k": 20, "min_p": 0.1,
                           "repeat_penalty": 1.2})
    assert cut.done_reason == "length" and cut.eval_count == 3
    greedy = {"num_predict": 12, "temperature": 0}
    prompt = "One, two, three,"
    free = oc.generate(model="local", prompt=prompt, raw=True, options=greedy).response
    word = free.split()[2]
    stopped = oc.generate(model="local", prompt=prompt, raw=True, options={**greedy, "stop": [word]})
    assert stopped.response == free[: free.index(word)] and stopped.done_reason == "stop"
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    shaped = oc.chat(model="local", messages=[{"role": "user", "content": "Is water wet? Answer in JSON."}],
                     format=schema, options={"num_predict": 24, "temperature": 0})
    assert isinstance(json.loads(shaped.message.content)["ok"], bool)
    anything = oc.generate(model="local", prompt="Give a JSON object.", format="json",
                           options={"num_predict": 24, "temperature": 0})
    text = anything.response.strip()
    # An object the token limit cut short is still the start of one.
    complete = anything.done_reason == "stop"
    assert isinstance(json.loads(text), dict) if complete else text.startswith("{"), text


@pytest.mark.parametrize(("call", "status", "words"), [
    (lambda c: c.chat(model="gpt-9", messages=HI), 404, "model 'gpt-9' not found"),
    (lambda c: c.chat(model="local", messages=[{**HI[0], "images": ["aGk="]}]), 400, "images are not supported"),
    (lambda c: c.chat(model="local", messages=[{**HI[0], "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}]),
     400, "only assistant messages carry tool calls"),
    (lambda c: c.chat(model="local", messages=HI, think=True), 400, "does not support thinking"),
    (lambda c: c.chat(model="local", messages=HI, options={"typical_p": 0.5}), 400, "typical_p"),
    (lambda c: c.chat(model="local", messages=HI, options={"num_predict": 0}), 400, "num_predict"),
    (lambda c: c.chat(model="local", messages=HI, format={"type": "object", "minProperties": 2}), 400,
     "minProperties"),
    (lambda c: c.generate(model="local", prompt="x", suffix="y"), 400, "'suffix' is not supported"),
    (lambda c: c.show("gpt-9"), 404, "not found"),
])
def test_errors_are_in_ollamas_shape(oc, call, status, words):
    with pytest.raises(ollama.ResponseError) as err:
        result = call(oc)
        if not isinstance(result, ollama.ChatResponse | ollama.GenerateResponse | ollama.ShowResponse):
            list(result)  # a stream raises when iterated
    assert err.value.status_code == status and words in err.value.error, err.value


def test_the_api_key_is_required_and_errors_have_ollamas_body(live):
    with pytest.raises(ollama.ResponseError) as err:
        ollama.Client(host=live.url).list()
    assert err.value.status_code == 401
    r = httpx.post(live.url + "/api/chat", content=b"{not json", headers=live.headers(), timeout=10)
    assert r.status_code == 400 and set(r.json()) == {"error"}
    # Ollama reads bodies as JSON whatever the Content-Type (its documented `curl -d` examples send form's).
    form = {**live.headers(), "Content-Type": "application/x-www-form-urlencoded"}
    body = {"model": "local", "stream": False, "options": {"num_predict": 2}, "messages": HI}
    r = httpx.post(live.url + "/api/chat", headers=form, content=json.dumps(body), timeout=60)
    assert r.status_code == 200 and r.json()["done"] is True and r.headers["x-hearth-route"] == "local"


def test_pull_reports_ollamas_progress(oc):
    lines = list(oc.pull("smollm2-135m-instruct", stream=True))  # already in the store: no download
    statuses = [line.status for line in lines]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    layer = next(line for line in lines if line.digest)
    assert layer.digest.startswith("sha256:") and layer.completed == layer.total == 98362432
    assert oc.pull("smollm2-135m-instruct:latest").status == "success"
    with pytest.raises(ollama.ResponseError) as err:
        oc.pull("llama-99b-imaginary")
    assert err.value.status_code == 404 and "the catalog knows" in err.value.error


def test_home_assistant_sequence(live):
    """Home Assistant's integration: list the models (config flow and its 30 s coordinator, with /api/ps), then
    a streamed chat with the Assist tools and its system prompt: a plain answer streams, or a call of the tool."""

    async def conversation() -> list:
        client = ollama.AsyncClient(host=live.url, headers=live.headers())
        listed = await client.list()
        model = "local"
        assert model in {m.model for m in listed.models}
        assert (await client.ps()).models
        stream = await client.chat(
            model=model, messages=[{"role": "system", "content": HA_SYSTEM},
                                   {"role": "user", "content": "What is the capital of France?"}],
            tools=HA_TOOLS, stream=True, keep_alive=-1, options={"num_ctx": 8192}, think=False, format=None)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(conversation())
    assert chunks[-1].done and chunks[-1].done_reason in ("stop", "length")
    calls = [call for chunk in chunks for call in chunk.message.tool_calls or ()]
    assert all(c.function.name == "HassTurnOn" and isinstance(c.function.arguments, dict) for c in calls), calls
    assert calls or "".join(chunk.message.content or "" for chunk in chunks).strip()


LIGHT = [{"type": "function", "function": {
    "name": "turn_on", "description": "Turn on a light",
    "parameters": {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "bedroom"]}},
                   "required": ["room"]}}}]
# A conversation in which the light was already switched on once: this model then tends to call the tool again.
CALLED = [{"role": "user", "content": "Turn on the kitchen light."},
          {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "turn_on",
                                                                            "arguments": {"room": "kitchen"}}}]},
          {"role": "tool", "content": '{"ok": true}', "tool_name": "turn_on"}]


def test_tool_calls_with_the_ollama_client(oc):
    """Tool turns in the history are understood, and the calls the model makes come back in Ollama's shape (the
    arguments an object, valid against the tool's schema), whole and streamed."""
    whole, streamed = [], []
    for seed in range(6):
        options = {"temperature": 0.8, "seed": seed, "num_predict": 32}
        reply = oc.chat(model="local", messages=CALLED, tools=LIGHT, options=options)
        assert reply.done and (reply.message.tool_calls or reply.message.content)
        whole += reply.message.tool_calls or []
        chunks = list(oc.chat(model="local", messages=CALLED, tools=LIGHT, options=options, stream=True))
        streamed += [c for chunk in chunks for c in chunk.message.tool_calls or ()]
        assert chunks[-1].done and chunks[-1].done_reason in ("stop", "length")
    assert whole and streamed, "no seed made a call"
    for call in whole + streamed:
        assert call.function.name == "turn_on" and call.function.arguments["room"] in ("kitchen", "bedroom")


@pytest.fixture(scope="module")
def cloud_server(default_model_path, model_home):
    """A server with a (fake, loopback) cloud and no API key."""
    cloud = FakeCloud().start()
    server = start_server(DEFAULT_MODEL, model_home, "--n-ctx", "1024", "--parallel", "1", "--max-tokens", "8",
                          "--cloud-base-url", cloud.url, "--cloud-model", "big", "--no-escalation-audit",
                          api_key=None)
    yield server, cloud
    stop_server(server)
    cloud.stop()


def test_routing_and_escalation_apply_to_ollamas_api(cloud_server):
    server, cloud = cloud_server
    oc = ollama.Client(host=server.url, timeout=120)
    listed = {m.model: m for m in oc.list().models}
    assert {"smollm2-135m-instruct", "local", "cloud", "big"} <= set(listed)
    assert listed["cloud"].details.family == "cloud" and listed["local"].details.family == "llama"

    streamed = "".join(p.message.content for p in oc.chat(model="cloud", messages=HI, stream=True))
    assert streamed == PREFIX + "hi" and len(cloud.received) == 1
    body = {"model": "cloud", "stream": False, "messages": HI}
    r = httpx.post(server.url + "/api/chat", json=body, timeout=120)
    assert r.headers["x-hearth-route"] == "cloud" and r.headers["x-hearth-route-reasons"] == "explicit"
    assert r.json()["message"]["content"] == PREFIX + "hi"

    cloud.default_fault = Fault("status", status=503)  # the cloud is down: the local model answers, marked
    try:
        r = httpx.post(server.url + "/api/chat", json=body, timeout=120)
    finally:
        cloud.default_fault = None
    assert r.status_code == 200 and r.headers["x-hearth-route"] == "local-degraded"
    assert r.headers["x-hearth-route-reasons"].startswith("explicit,") and r.json()["done"] is True
