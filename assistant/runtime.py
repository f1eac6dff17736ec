"""Wiring from settings to the objects surfaces use: the store, a loaded engine, the Assistant."""

from __future__ import annotations

import logging
from pathlib import Path

import psutil

from .catalog import load_catalog
from .engine.protocol import Engine
from .errors import ConfigError
from .gguf_meta import GGUFMeta, read_gguf
from .settings import EngineSettings, Settings
from .store import ModelStore

log = logging.getLogger("hearth.runtime")


def open_store(settings: Settings) -> ModelStore:
    """The model store, after collecting what interrupted downloads left behind (see `collect_partial`)."""
    store = ModelStore(settings.models_dir, load_catalog(settings.catalog))
    store.collect_partial()
    return store


def load_engine(settings: Settings, model: str | None = None) -> Engine:
    """Resolve `model` (default: settings.model) through the store and load it with the configured backend."""
    from .engine.llamacpp import LlamaCppEngine

    name, path = open_store(settings).resolve(model or settings.model)
    meta = read_gguf(path)
    config = load_config(settings, meta)
    return LlamaCppEngine(path, config, model_id=name, meta=meta)


def load_config(settings: Settings, meta: GGUFMeta):
    """Concrete load settings: every `auto` resolved by the memory planner for the detected device."""
    from .engine.llamacpp import LoadConfig

    es: EngineSettings = settings.engine
    resolved = {"n_ctx": es.n_ctx, "n_gpu_layers": es.n_gpu_layers, "kv_type": es.kv_type,
                "flash_attn": es.flash_attn, "n_seq": es.parallel}
    if "auto" in (es.n_ctx, es.n_gpu_layers, es.kv_type, es.parallel):
        resolved.update(_plan_auto(settings, meta))
    n_ctx = int(resolved["n_ctx"])
    if meta.context_length and n_ctx > meta.context_length:
        log.info("n_ctx %d exceeds the model's trained context %d; using %d", n_ctx, meta.context_length,
                 meta.context_length)
        n_ctx = meta.context_length
    if n_ctx < 16:
        raise ConfigError(f"engine.n_ctx must be at least 16 tokens, got {n_ctx}")
    threads = es.n_threads or psutil.cpu_count(logical=False) or 1
    return LoadConfig(n_ctx=n_ctx, n_threads=threads, n_batch=es.n_batch, n_gpu_layers=int(resolved["n_gpu_layers"]),
                      kv_type=str(resolved["kv_type"]), flash_attn=resolved["flash_attn"],
                      n_seq=int(resolved["n_seq"]), chat_template=_template_text(es.chat_template_file))


def _template_text(path: Path | None) -> str | None:
    """The text of `engine.chat_template_file`. Raises ConfigError when it cannot be read."""
    if path is None:
        return None
    try:
        return path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"engine.chat_template_file {str(path)!r} cannot be read: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None


def _plan_auto(settings: Settings, meta: GGUFMeta) -> dict:
    from .devices import detect_profile
    from .planner import resolve_auto

    plan = resolve_auto(settings.engine, meta, detect_profile(settings), max_auto_ctx=settings.device.max_auto_ctx)
    for note in plan.notes:
        log.info("planner: %s", note)
    return {"n_ctx": plan.n_ctx, "n_gpu_layers": plan.n_gpu_layers, "kv_type": plan.kv_type,
            "flash_attn": plan.flash_attn, "n_seq": plan.n_seq}


def build_assistant(settings: Settings, engine: Engine | None = None):
    """The Assistant every surface talks to (loads the engine unless one is given)."""
    from .assistant import Assistant

    return Assistant(engine if engine is not None else load_engine(settings), settings)


def shutdown(assistant) -> None:
    """Stop what `build_assistant` started: the cloud client, then the engine (which stops its scheduler first)."""
    assistant.close()
    assistant.engine.close()
