"""Ollama's API (`/api/*`) on the same server, over the same Assistant: routing, escalation and privacy apply.

`schemas` (request bodies), `translate` (bodies -> the `JobSpec` the OpenAI side also runs), `formatters` (NDJSON
responses), `info` (tags, show, ps), `pull` (catalog pulls with Ollama's progress stream), `routes` (the router).
"""

from .routes import build_ollama_router

__all__ = ["build_ollama_router"]
