"""`hearth serve`: the OpenAI-compatible endpoint on localhost."""

from __future__ import annotations

import ipaddress
import logging
import socket

import typer

from ..errors import ConfigError, HearthError
from ..settings import Settings
from .common import cli_errors, err, fail, out
from .options import settings_command


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one), so the URL printed is the one actually bound."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("model", "api_key", "server", "engine", "sampling", "privacy", "cloud", "escalation",
                      "home", "log_prompts")
    def serve(*, settings: Settings) -> None:
        """Serve the model over an OpenAI-compatible HTTP API (chat, completions, models, health, metrics)."""
        import uvicorn

        from server import create_app

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        application = create_app(settings)
        sock = _bind(settings.server.host, settings.server.port)
        config = uvicorn.Config(application, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                                lifespan="on")
        server = uvicorn.Server(config)
        failure: list[HearthError] = []

        def on_fatal(error: HearthError) -> None:
            failure.append(error)
            server.should_exit = True

        application.state.hearth.on_fatal = on_fatal
        if settings.server.host not in ("127.0.0.1", "::1", "localhost") and settings.api_key is None:
            err.print("warning: listening beyond loopback without an API key (set --api-key or HEARTH_API_KEY)")
        out.print(f"Hearth serving on {_url(sock)}  (loading {settings.model}; /health turns 200 when ready)")
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
        if failure:
            fail(failure[0].message, failure[0].exit_code)
