"""A small OpenAI-compatible "cloud" on a loopback port, with fault injection, for the escalation tests.

It answers `POST /v1/chat/completions` with `CLOUD SAYS: <last user message>` (streamed in small chunks, so
placeholders get split across chunk boundaries) and records every request it received. A streamed request with
`tools` (and a `tool_choice` other than `none`) is answered with one call of the named tool, else of the first
one, whose arguments are `{"text": <last user message>}`, streamed in OpenAI's `delta.tool_calls` fragments.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "CLOUD SAYS: "


@dataclass
class Received:
    """One request as the cloud saw it."""

    path: str
    """Request path."""
    headers: dict[str, str]
    """Request headers (lower-case names)."""
    body: dict
    """The JSON body."""
    raw: str
    """The body as text (to search for leaked PII)."""


@dataclass
class Fault:
    """What to do with one request instead of answering normally."""

    kind: str
    """`status` (reply `status`), `delay` (wait `delay_s` before answering), `hold` (wait until the cloud's
    `release` event is set, at most `delay_s`), `malformed` (broken JSON chunk), `drop` (close the connection after
    the first chunk), `slow` (wait `delay_s` between chunks), `bad_call` (call a tool the request did not offer,
    with arguments that are not JSON)."""
    status: int = 500
    """HTTP status for `status`."""
    delay_s: float = 0.0
    """Seconds to wait for `delay` and `slow`."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. Retry-After)."""


class FakeCloud:
    """Start with `FakeCloud().start()`; `url` is its base URL; `faults` are consumed one per request
    (`default_fault` applies when the queue is empty)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: deque[Fault] = deque()
        self.default_fault: Fault | None = None
        self.chunk_chars = 3
        self.release = threading.Event()
        """Lets requests held by a `hold` fault answer."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeCloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else self.default_fault

    @staticmethod
    def answer_for(body: dict) -> str:
        return PREFIX + FakeCloud.last_user(body)

    @staticmethod
    def last_user(body: dict) -> str:
        users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
        return users[-1] if users else ""

    @staticmethod
    def call_for(body: dict) -> tuple[str, str] | None:
        """The (tool name, arguments JSON) the cloud calls for `body`, or None (no tools offered)."""
        choice = body.get("tool_choice", "auto")
        if not body.get("tools") or choice == "none":
            return None
        name = (choice["function"]["name"] if isinstance(choice, dict)
                else body["tools"][0]["function"]["name"])
        return name, json.dumps({"text": FakeCloud.last_user(body)})


def refused_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _handler(cloud: FakeCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode("utf-8")
            body = json.loads(raw or "{}")
            cloud.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
            )
            fault = cloud.next_fault()
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_s)
            if fault is not None and fault.kind == "hold":
                cloud.release.wait(fault.delay_s)
            if fault is not None and fault.kind == "status":
                return self._json(
                    fault.status, {"error": {"message": "injected", "type": "server_error"}}, fault.headers
                )
            if self.path != "/v1/chat/completions":
                return self._json(404, {"error": {"message": "not found"}})
            text = cloud.answer_for(body)
            call = cloud.call_for(body)
            if call is not None and body.get("stream"):
                if fault is not None and fault.kind == "bad_call":
                    call = ("no_such_tool", "{not json")
                return self._stream_call(*call)
            if not body.get("stream"):
                return self._json(
                    200,
                    {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 7},
                    },
                )
            self._stream(text, fault)

        def _stream(self, text: str, fault: Fault | None) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            n = cloud.chunk_chars
            for i in range(0, len(text), n):
                if fault is not None and fault.kind == "malformed":
                    self.wfile.write(b"data: {not json\n\n")
                    self.wfile.flush()
                    return
                self._event({"choices": [{"index": 0, "delta": {"content": text[i : i + n]}}]})
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    return
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay_s)
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _stream_call(self, name: str, arguments: str) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            head = {"index": 0, "id": "call_cloud0", "type": "function", "function": {"name": name, "arguments": ""}}
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [head]}}]})
            n = cloud.chunk_chars
            for i in range(0, len(arguments), n):
                piece = {"index": 0, "function": {"arguments": arguments[i : i + n]}}
                self._event({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, data: dict) -> None:
            self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
            self.wfile.flush()

        def _json(self, status: int, data: dict, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
