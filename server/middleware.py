"""ASGI middleware and dependencies: request body limit, per-route request metrics, API key.

Pure ASGI (not `BaseHTTPMiddleware`), so streamed responses pass through untouched and the per-token path pays
nothing.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import AuthenticationError, PayloadTooLargeError, error_body
from .metrics import Metrics

Scope = dict[str, Any]


def _too_large(limit: int, path: str) -> JSONResponse:
    err = PayloadTooLargeError(f"the request body exceeds {limit} bytes")
    return JSONResponse(error_body(path, 413, err.message, err.code), status_code=413)


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413: by Content-Length up front, by counting when chunked."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(self.limit, scope.get("path", ""))(scope, receive, send)
                return
        seen = 0

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Raised inside the app, where the one error handler turns it into the 413 envelope.
                    raise StarletteHTTPException(413, f"the request body exceeds {self.limit} bytes")
            return message

        await self.app(scope, counted_receive, send)


class RequestMetrics:
    """Count every response by route template (unmatched paths share one label) and status."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def tracked_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(route=label, status=str(status["code"])).inc()


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: `Authorization: Bearer KEY` must match `settings.api_key` (when one is set).

    Async so FastAPI runs it on the event loop instead of hopping to a worker thread for a string compare."""
    expected = request.app.state.hearth.settings.api_key
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                            expected.get_secret_value().encode())
    if not ok:
        raise AuthenticationError("missing or invalid API key (send 'Authorization: Bearer KEY')")
