"""Hearth runtime core: engines, model store, sessions, routing."""

__version__ = "0.1.0"
