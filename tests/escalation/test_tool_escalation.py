"""Requests with tools, routed like any other: through the real Assistant and the default model, against the fake
cloud over HTTP, which answers a request with tools by calling one (`FakeCloud.call_for`)."""

from __future__ import annotations

import json

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage, RouteDecision, ToolCall
from assistant.engine.sampling import SamplingParams
from assistant.tools import Tool, ToolSpec

from .cloud_server import FakeCloud, Fault
from .conftest import audit_records

LIGHT = Tool("set_light", "Switch a room's light", {
    "type": "object", "properties": {"room": {"type": "string"}, "on": {"type": "boolean"}},
    "required": ["room", "on"]})
NOTE = Tool("send_note", "Send a note to someone", {
    "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
PARAMS = SamplingParams(temperature=0.0, max_tokens=48, seed=0)


def ask(text: str, spec: ToolSpec, history: tuple[ChatMessage, ...] = (), **kw) -> ChatRequest:
    return ChatRequest(messages=[*history, ChatMessage("user", text)], tools=spec, params=PARAMS, **kw)


def test_an_explicit_cloud_request_gets_the_clouds_calls_and_the_clients_conversation(
        make_assistant, cloud: FakeCloud) -> None:
    spec = ToolSpec((LIGHT, NOTE), "named", name="send_note", parallel=False)
    reply = make_assistant().complete(ask("Tell Sam dinner is at eight", spec, route="cloud"))
    assert reply.decision.route == "cloud" and reply.text == ""
    [call] = reply.tool_calls
    assert call.id == "call_cloud0" and call.name == "send_note"
    assert json.loads(call.arguments) == {"text": "Tell Sam dinner is at eight"}
    (received,) = cloud.received
    body = received.body
    assert [t["function"]["name"] for t in body["tools"]] == ["set_light", "send_note"]
    assert body["tools"][0]["function"]["parameters"] == LIGHT.parameters
    assert body["tool_choice"] == {"type": "function", "function": {"name": "send_note"}}
    assert body["parallel_tool_calls"] is False
    # The conversation as the client sent it: not the generic prompt the local model is shown.
    assert body["messages"] == [{"role": "user", "content": "Tell Sam dinner is at eight"}]


def test_an_unsure_local_call_escalates_with_the_same_tools(make_assistant, cloud: FakeCloud) -> None:
    spec = ToolSpec((LIGHT, NOTE), "required")
    events = list(make_assistant(escalation={"threshold": 0.0}).stream(ask("Kitchen light on", spec)))
    decision = events[0]
    assert isinstance(decision, RouteDecision) and decision.route == "cloud"
    assert decision.reasons == ("low_confidence",)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("set_light", {"text": "Kitchen light on"})]
    assert cloud.received[0].body["tool_choice"] == "required"


def test_a_confident_local_call_stays_local(make_assistant, cloud: FakeCloud) -> None:
    spec = ToolSpec((LIGHT,), "required", parallel=False)
    reply = make_assistant(escalation={"threshold": 1.0}).complete(ask("Kitchen light on", spec))
    assert reply.decision.route == "local" and not cloud.received
    [call] = reply.tool_calls
    assert call.name == "set_light" and set(json.loads(call.arguments)) == {"room", "on"}


def test_redaction_covers_call_arguments_and_results_and_is_restored(make_assistant, cloud: FakeCloud) -> None:
    earlier = ToolCall("call_1", "send_note", json.dumps({"text": "mail jane.doe@example.com"}))
    history = (ChatMessage("user", "Note for Jane"),
               ChatMessage("assistant", "", tool_calls=(earlier,)),
               ChatMessage("tool", "sent to +44 20 7946 0958", tool_call_id="call_1"))
    spec = ToolSpec((NOTE,), "required", parallel=False)
    assistant = make_assistant(privacy="redact")
    reply = assistant.complete(ask("Now tell bob@example.org it is done", spec, history, route="cloud"))
    (received,) = cloud.received
    for secret in ("jane.doe@example.com", "+44 20 7946 0958", "bob@example.org"):
        assert secret not in received.raw
    sent = received.body["messages"]
    assert sent[1]["content"] is None and sent[1]["tool_calls"][0]["id"] == "call_1"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"text": "mail [EMAIL_1]"}
    assert sent[2] == {"role": "tool", "content": "sent to [PHONE_1]", "tool_call_id": "call_1"}
    # The cloud echoed the placeholder inside its call's arguments; the caller gets the real address back.
    [call] = reply.tool_calls
    assert json.loads(call.arguments) == {"text": "Now tell bob@example.org it is done"}
    assert audit_records(assistant)[0]["redactions"] == 3


def test_privacy_never_keeps_the_local_call_marked_degraded(make_assistant, cloud: FakeCloud) -> None:
    spec = ToolSpec((LIGHT,), "required", parallel=False)
    reply = make_assistant(privacy="never", escalation={"threshold": 0.0}).complete(ask("Kitchen light on", spec))
    assert reply.decision.route == "local-degraded" and not cloud.received
    [call] = reply.tool_calls
    assert call.name == "set_light"


def test_a_cloud_call_outside_the_contract_is_not_passed_on(make_assistant, cloud: FakeCloud) -> None:
    """The cloud calls a tool nobody offered, with arguments that are not JSON: a whole answer falls back to the
    local call, marked degraded."""
    cloud.faults.append(Fault("bad_call"))
    spec = ToolSpec((LIGHT,), "required", parallel=False)
    assistant = make_assistant(escalation={"threshold": 0.0})
    reply = assistant.complete(ask("Kitchen light on", spec))
    assert reply.decision.route == "local-degraded"
    assert [c.name for c in reply.tool_calls] == ["set_light"]
    assert audit_records(assistant)[0]["cloud_error"] == "malformed"
