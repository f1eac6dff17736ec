"""`/api/pull` for catalog models: the model store's pull, reported as Ollama's progress lines.

Lines: `{"status": "pulling manifest"}`, then `{"status": "pulling <digest>", "digest", "total", "completed"}` while
the file is fetched, `{"status": "verifying sha256 digest"}`, `{"status": "writing manifest"}`, `{"status":
"success"}` (a model already in the store goes straight from one complete progress line to success). The pull runs
on its own thread, one at a time; a client that leaves does not stop it (the store installs atomically, so it either
completes or leaves nothing behind).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from assistant.catalog import CatalogEntry
from assistant.errors import HearthError
from assistant.runtime import open_store
from assistant.settings import Settings

from ..errors import as_hearth_error

Emit = Callable[[dict[str, Any]], None]
_PULLS = threading.Lock()  # one store write at a time, whichever app asks
_STEPS = 100  # progress lines per download, at most


def catalog_entry(settings: Settings, name: str) -> CatalogEntry:
    """The catalog entry called `name` (ModelNotFoundError, a 404, naming the known ids otherwise)."""
    return open_store(settings).catalog.get(name)


def pull(settings: Settings, entry: CatalogEntry, emit: Emit) -> None:
    """Pull `entry` into the store (blocking), reporting each step through `emit`."""
    digest = f"sha256:{entry.sha256}" if entry.sha256 else ""

    def layer(done: int, total: int | None) -> dict[str, Any]:
        return {"status": f"pulling {entry.sha256[:12] if entry.sha256 else entry.file}", "digest": digest,
                "total": total or entry.size_bytes, "completed": done}

    with _PULLS:
        emit({"status": "pulling manifest"})
        store = open_store(settings)
        existing = store.get(entry.id)
        if existing is not None:
            emit(layer(existing.size_bytes, existing.size_bytes))
            emit({"status": "success"})
            return
        state = {"verifying": False, "step": -1}

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase == "verify":
                if not state["verifying"]:
                    state["verifying"] = True
                    emit({"status": "verifying sha256 digest"})
                return
            step = done * _STEPS // max(1, total or entry.size_bytes)
            if step != state["step"]:
                state["step"] = step
                emit(layer(done, total))

        store.pull(entry.id, progress=progress)
        emit({"status": "writing manifest"})
        emit({"status": "success"})


async def pull_stream(settings: Settings, entry: CatalogEntry) -> AsyncIterator[dict[str, Any]]:
    """The progress lines of a pull running on its own thread; an error ends the stream as `{"error": ...}`."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def put(item: dict[str, Any] | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed (server stopping): nobody is reading, the pull goes on
            pass

    def run() -> None:
        try:
            pull(settings, entry, put)
        except Exception as exc:  # noqa: BLE001  # the stream has started: the error travels as a line
            error: HearthError = as_hearth_error(exc)
            put({"error": error.message})
        finally:
            put(None)

    threading.Thread(target=run, name="hearth-pull", daemon=True).start()
    while (item := await queue.get()) is not None:
        yield item
