"""The Home Assistant REST adapter against a small recording HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from assistant.errors import ConfigError, HomeControlError
from assistant.settings import load_settings
from assistant.voice.home import load_home
from assistant.voice.homeassistant import HomeAssistantExecutor
from assistant.voice.intents import IntentRecognizer
from assistant.voice.responder import Responder

TOKEN = "test-long-lived-token"
STATES = {
    "light.kitchen": {"state": "on", "attributes": {"brightness": 128}},
    "climate.bedroom": {"state": "heat", "attributes": {"temperature": 19.5, "current_temperature": 18.0}},
    "sensor.office_temperature": {"state": "22.4", "attributes": {"unit_of_measurement": "°C"}},
}


class FakeHomeAssistant(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, str, str | None, dict | None]]] = []
    delay_s = 0.0

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((method, self.path, self.headers.get("Authorization"), body))
        time.sleep(self.delay_s)
        try:
            self._answer(method)
        except ConnectionError:  # the client gave up first (the timeout test)
            pass

    def _answer(self, method: str) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"message": "unauthorized"})
        if method == "POST" and self.path.startswith("/api/services/"):
            return self._reply(200, [])
        if method == "GET" and self.path.startswith("/api/states/"):
            entity = self.path.rsplit("/", 1)[1]
            if entity in STATES:
                return self._reply(200, {"entity_id": entity, **STATES[entity]})
        return self._reply(404, {"message": "not found"})

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def ha_server():
    FakeHomeAssistant.calls = []
    FakeHomeAssistant.delay_s = 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHomeAssistant)
    server.daemon_threads = True  # a handler still sleeping after a client timeout must not hold up teardown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def home():
    return load_home()


def _run(executor, home, text):
    return executor.execute(IntentRecognizer(home).recognize(text))


def test_actions_call_services_with_the_token(ha_server, home):
    ha = HomeAssistantExecutor(home, ha_server, TOKEN, timeout_s=2.0)
    assert _run(ha, home, "turn on the kitchen light").speech == "Turned on the kitchen light."
    assert _run(ha, home, "switch off the bedroom fan").ok
    assert _run(ha, home, "set the living room light to 40 percent").ok
    assert _run(ha, home, "set the bedroom thermostat to 21 degrees").ok
    auth = {c[2] for c in FakeHomeAssistant.calls}
    assert auth == {f"Bearer {TOKEN}"}
    assert [(c[0], c[1], c[3]) for c in FakeHomeAssistant.calls] == [
        ("POST", "/api/services/light/turn_on", {"entity_id": "light.kitchen"}),
        ("POST", "/api/services/fan/turn_off", {"entity_id": "fan.bedroom"}),
        ("POST", "/api/services/light/turn_on", {"entity_id": "light.living_room", "brightness_pct": 40}),
        ("POST", "/api/services/climate/set_temperature", {"entity_id": "climate.bedroom", "temperature": 21}),
    ]


def test_questions_read_states(ha_server, home):
    ha = HomeAssistantExecutor(home, ha_server, TOKEN, timeout_s=2.0)
    assert _run(ha, home, "is the kitchen light on").speech == "The kitchen light is on."
    assert _run(ha, home, "what is the brightness of the kitchen light").speech == "The kitchen light is at 50 percent."
    assert _run(ha, home, "what is the bedroom thermostat set to").speech == "The bedroom thermostat is set to 19.5 degrees."
    assert _run(ha, home, "what is the temperature in the office").speech == "It is 22.4 degrees in the office."
    assert [c[1] for c in FakeHomeAssistant.calls] == ["/api/states/light.kitchen"] * 2 + [
        "/api/states/climate.bedroom", "/api/states/sensor.office_temperature"]


def test_failures_are_typed(ha_server, home):
    with pytest.raises(HomeControlError, match="rejected the access token"):
        _run(HomeAssistantExecutor(home, ha_server, "wrong", timeout_s=2.0), home, "turn on the kitchen light")
    with pytest.raises(HomeControlError, match="404"):
        _run(HomeAssistantExecutor(home, ha_server, TOKEN, timeout_s=2.0), home, "is the bedroom fan on")
    FakeHomeAssistant.delay_s = 5.0
    started = time.monotonic()
    with pytest.raises(HomeControlError, match="did not answer within 0.3 s"):
        _run(HomeAssistantExecutor(home, ha_server, TOKEN, timeout_s=0.3), home, "turn on the kitchen light")
    assert time.monotonic() - started < 4.0  # the deadline, not the slow server, ended the wait
    with pytest.raises(HomeControlError, match="cannot reach"):
        _run(HomeAssistantExecutor(home, "http://127.0.0.1:9", TOKEN, timeout_s=1.0), home, "turn on the kitchen light")
    with pytest.raises(ConfigError):
        HomeAssistantExecutor(home, "", TOKEN)


def test_a_failing_backend_becomes_a_spoken_apology(ha_server, home):
    settings = load_settings()
    responder = Responder(IntentRecognizer(home), HomeAssistantExecutor(home, ha_server, "wrong", timeout_s=2.0),
                          None, settings.voice, settings.sampling)
    response = responder.respond("turn on the kitchen light")
    assert list(response.sentences()) == ["Sorry, I couldn't reach the home controller."]
    assert response.intent is not None and "access token" in response.error
