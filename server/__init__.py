"""Hearth's OpenAI-compatible HTTP server (`hearth serve`)."""

from .app import create_app

__all__ = ["create_app"]
