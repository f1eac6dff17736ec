"""`create_app(settings, assistant=None)`: the OpenAI-compatible FastAPI app.

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

from assistant.settings import Settings

from .errors import install_error_handlers
from .middleware import BodyLimit, RequestMetrics
from .routes import build_router
from .state import ServerState


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
                  description="OpenAI-compatible endpoint of an on-device model.")
    app.state.hearth = hearth
    install_error_handlers(app)
    app.include_router(build_router())
    # The last added runs outermost: metrics see every response, a 413 from the body limit included.
    app.add_middleware(BodyLimit, limit=settings.server.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=hearth.metrics)
    return app
