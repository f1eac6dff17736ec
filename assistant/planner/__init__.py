"""The memory planner: what a model needs on a device, whether it fits, and the settings `auto` resolves to."""

from __future__ import annotations

from .auto import ResolvedEngineConfig, resolve_auto
from .memory import KV_TYPES, decode_bound_tok_s, kv_bytes, kv_cells, reserved_compute_bytes
from .plan import Plan, PlanRequest, max_context, plan, resident_bytes
from .shape import ModelShape, shape_from_catalog, shape_from_gguf
from .source import load_shape

__all__ = ["KV_TYPES", "ModelShape", "Plan", "PlanRequest", "ResolvedEngineConfig", "decode_bound_tok_s",
           "kv_bytes", "kv_cells", "load_shape", "max_context", "plan", "reserved_compute_bytes", "resident_bytes",
           "resolve_auto", "shape_from_catalog", "shape_from_gguf"]
