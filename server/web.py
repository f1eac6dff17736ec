"""The chat page at `/`: static files from `server/static/`, all served by Hearth (no CDN: it works offline).

The page talks to `/v1/chat/completions` like any client (streamed, with the API key it asks for on a 401 and keeps
in sessionStorage); the conversation is kept in the browser's localStorage, never on the server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
# Everything the page loads comes from this server; nothing inline, no eval, no framing by other sites.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache"}


def mount_web(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/static/` (no API key needed: the page asks for it)."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
