"""The escalation policy's vocabulary and its pure decisions: reason codes, the effective privacy mode,
whether a request may leave the device, and what a trigger turns into when it may not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..engine.events import RouteDecision
from ..settings import Privacy, Settings

Route = Literal["local", "cloud", "local-degraded"]

# Triggers: why the cloud was wanted.
CONTEXT_OVERFLOW = "context_overflow"
LOW_CONFIDENCE = "low_confidence"
EXPLICIT = "explicit"
LOCAL_FAILURE = "local_failure"
# Blockers: why it was not used (the answer is then local-degraded).
CLOUD_UNAVAILABLE = "cloud_unavailable"
CLOUD_UNCONFIGURED = "cloud_unconfigured"
PRIVACY_NEVER = "privacy_never"
LOCAL_ONLY = "local_only"
RAW_PROMPT = "raw_prompt"
# What the context budget did.
CONTEXT_TRUNCATED = "context_truncated"

_STRICTNESS = {"never": 0, "redact": 1, "allow": 2}


def effective_privacy(configured: Privacy, requested: Privacy | None) -> Privacy:
    """The settings' mode, or the request's when it is stricter (a request can never loosen privacy)."""
    if requested is None or _STRICTNESS[requested] >= _STRICTNESS[configured]:
        return configured
    return requested


def wants_cloud(route: str, model: str | None, settings: Settings) -> bool:
    """Whether the request asks for the cloud itself: `route="cloud"` or a cloud model name / alias."""
    if route == "cloud":
        return True
    return bool(model) and (model in settings.cloud.aliases or model == settings.cloud.model)


def blocker(settings: Settings, privacy: Privacy, route: str, raw_prompt: bool) -> str | None:
    """Why this request may not go to the cloud, or None if it may."""
    if route == "local":
        return LOCAL_ONLY
    if privacy == "never":
        return PRIVACY_NEVER
    if not (settings.cloud.base_url and settings.cloud.model):
        return CLOUD_UNCONFIGURED
    if raw_prompt:  # a template-less completion cannot be continued by a chat endpoint
        return RAW_PROMPT
    return None


def low_confidence(score: float, threshold: float) -> bool:
    return score > threshold


def decision(route: Route, triggers: Sequence[str] = (), blocked_by: str | None = None,
             extra: Sequence[str] = (), signals: dict[str, float] | None = None,
             budget=None) -> RouteDecision:
    """The typed decision: triggers first, then what blocked the cloud, then what the budget did."""
    reasons = tuple(triggers) + ((blocked_by,) if blocked_by else ()) + tuple(extra)
    return RouteDecision(route=route, reasons=reasons, signals=dict(signals or {}), budget=budget)
