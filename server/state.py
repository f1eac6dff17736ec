"""Everything one app instance owns: settings, metrics, the Assistant and its job runner (no module globals)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from assistant.errors import HearthError
from assistant.runtime import shutdown
from assistant.settings import Settings

from .errors import ModelLoadingError, as_hearth_error
from .jobs import JobRunner
from .metrics import Metrics

log = logging.getLogger("hearth.server")


class ServerState:
    """The app's one mutable object, reachable from handlers as `request.app.state.hearth`."""

    def __init__(self, settings: Settings, assistant: Any | None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.assistant = assistant
        self.jobs: JobRunner | None = None
        self.load_error: HearthError | None = None
        self.started = int(time.time())
        self.owns_assistant = assistant is None
        self.on_fatal: Callable[[HearthError], None] | None = None
        """Called (from the loader thread) when the model cannot be loaded; `hearth serve` stops the server."""
        self._loader: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.assistant is not None:
            self._serve(self.assistant)
            return
        self._loader = threading.Thread(target=self._load, name="hearth-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        from assistant.runtime import build_assistant

        try:
            assistant = build_assistant(self.settings)
        except Exception as exc:  # noqa: BLE001  # reported via /health and on_fatal, never raised into uvicorn
            self.load_error = as_hearth_error(exc)
            log.error("cannot load the model: %s", self.load_error.message)
            if self.on_fatal is not None:
                self.on_fatal(self.load_error)
            return
        self.assistant = assistant
        self._serve(assistant)
        log.info("serving %s (n_ctx %d)", assistant.model_info.id, assistant.n_ctx)

    def _serve(self, assistant: Any) -> None:
        server = self.settings.server
        self.metrics.watch(assistant.scheduler)
        self.jobs = JobRunner(assistant, self.metrics, server.queue_size, server.request_timeout_s)
        # published last: handlers treat a job runner as "ready"

    def stop(self) -> None:
        if self._loader is not None:
            self._loader.join(timeout=60)
        stopped = self.jobs.stop() if self.jobs is not None else True
        if stopped and self.owns_assistant and self.assistant is not None:
            shutdown(self.assistant)

    # -- readiness ----------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.jobs is not None

    def require_ready(self) -> JobRunner:
        if self.jobs is None:
            if self.load_error is not None:
                raise ModelLoadingError(f"the model failed to load: {self.load_error.message}")
            raise ModelLoadingError("the model is loading; retry shortly")
        return self.jobs

    def model_names(self) -> list[str]:
        """Every name the server answers to: the loaded model's id, its aliases, and (when a cloud is configured)
        the cloud's model name and aliases, which ask the Assistant for the cloud explicitly."""
        names = [self.assistant.model_info.id] if self.assistant is not None else []
        cloud = self.settings.cloud
        extra = list(self.settings.server.aliases)
        if cloud.base_url and cloud.model:
            extra += [*cloud.aliases, cloud.model]
        return names + [n for i, n in enumerate(extra) if n not in names and n not in extra[:i]]
