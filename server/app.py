"""`create_app(settings, assistant=None)`: the FastAPI app: OpenAI's API (`/v1`), Ollama's (`/api`), the chat page
(`/`).

Without an Assistant the app loads the configured model itself, in the background, once it starts: `/health`
answers 503 until the model serves. All state lives on the app (`app.state.hearth`), never in module globals, so
several apps can live in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from assistant.settings import Settings

from .errors import install_error_handlers
from .middleware import BodyLimit, RequestMetrics
from .ollama import build_ollama_router
from .routes import TRUNCATED_HEADER, build_router
from .service import REASONS_HEADER, ROUTE_HEADER
from .state import ServerState
from .web import mount_web


def create_app(settings: Settings, assistant: Any | None = None) -> FastAPI:
    """A new app serving `assistant` (or the model `settings` names, loaded at startup)."""
    hearth = ServerState(settings, assistant)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hearth.start()
        try:
            yield
        finally:
            # Joining threads blocks; keep the event loop free for other apps' shutdown work.
            await anyio.to_thread.run_sync(hearth.stop)

    app = FastAPI(title="Hearth", version="0.1.0", lifespan=lifespan,
                  description="OpenAI- and Ollama-compatible endpoint of an on-device model.")
    app.state.hearth = hearth
    install_error_handlers(app)
    app.include_router(build_router())
    app.include_router(build_ollama_router())
    mount_web(app)
    _drop_422(app)
    # The last added runs outermost: metrics see every response, a 413 from the body limit included; CORS headers
    # go on every response (errors too, so a browser can read them), and a preflight is answered before any route
    # (so before the API key check: browsers never send credentials on a preflight).
    app.add_middleware(BodyLimit, limit=settings.server.max_body_bytes)
    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.server.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=[ROUTE_HEADER, REASONS_HEADER, TRUNCATED_HEADER, "Retry-After"], max_age=600)
    app.add_middleware(RequestMetrics, metrics=hearth.metrics)
    return app


def _drop_422(app: FastAPI) -> None:
    """Validation errors are 400 (see `server.errors`); take FastAPI's automatic 422 out of the OpenAPI document."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
