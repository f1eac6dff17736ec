"""The escalation side of the Assistant: scoring a local answer's decision window, sending a (possibly
redacted) conversation to the cloud and turning its stream into Hearth events, and auditing every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..engine.events import ChatMessage, Event, Finish, TextDelta, Timings, TokenEvent, Usage
from ..engine.sampling import SamplingParams
from ..errors import CloudError
from ..settings import Privacy, Settings
from .audit import AuditLog
from .cloud import CloudChunk, CloudClient
from .defaults import Mode
from .redact import Redactor
from .scoring import load_calibration
from .signals import compute_signals


@dataclass
class Trace:
    """What one request did, for the audit log."""

    started: float = field(default_factory=time.monotonic)
    """Monotonic start time."""
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    """Wall-clock start (UTC, ISO 8601)."""
    privacy: str = "allow"
    """Effective privacy mode."""
    route: str | None = None
    """Route taken."""
    reasons: tuple[str, ...] = ()
    """Reason codes of the decision."""
    signals: dict[str, float] = field(default_factory=dict)
    """Signal values, the combined score and its threshold."""
    redactions: int = 0
    """Placeholders substituted before the cloud saw the conversation."""
    decision_ms: float | None = None
    """Time to score the window and decide (excludes generating the window and waiting for the cloud)."""
    cloud_ms: float | None = None
    """Time until the cloud produced its first text, or failed."""
    cloud_error: str | None = None
    """Why the cloud was not used or broke (`CloudError.cause`)."""
    finish: str | None = None
    """Finish reason, `error` or `closed` (the consumer stopped reading)."""
    prompt_tokens: int | None = None
    """Prompt tokens (local count)."""
    completion_tokens: int | None = None
    """Tokens (local) or chunks (cloud) produced."""

    def record(self) -> dict[str, Any]:
        return {"time": self.time, "route": self.route, "reasons": list(self.reasons),
                "signals": self.signals,
                "privacy": self.privacy, "redactions": self.redactions,
                "latency_ms": round((time.monotonic() - self.started) * 1000, 2),
                "decision_ms": _r(self.decision_ms), "cloud_ms": _r(self.cloud_ms),
                "cloud_error": self.cloud_error,
                "finish": self.finish, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Escalator:
    """Owns the cloud client (with its breaker), the calibrated score and the audit log of one Assistant."""

    def __init__(self, settings: Settings, cloud: CloudClient | None = None,
                 audit: AuditLog | None = None) -> None:
        self.settings = settings
        self.cloud = cloud or CloudClient(settings.cloud)
        esc = settings.escalation
        self.calibrations = {mode: load_calibration(mode, esc.calibration_dir)
                             for mode in ("stream", "complete")}
        # Explicit settings win; otherwise the calibration's own threshold and window (fit together).
        chosen = esc.model_fields_set
        self.thresholds = {
            "stream": esc.threshold if "threshold" in chosen else self.calibrations["stream"].threshold,
            "complete": esc.complete_threshold if "complete_threshold" in chosen
            else self.calibrations["complete"].threshold}
        self.windows = {
            "stream": esc.decision_window if "decision_window" in chosen
            else self.calibrations["stream"].window,
            "complete": esc.complete_window if "complete_window" in chosen
            else self.calibrations["complete"].window}
        self.audit = audit if audit is not None else (
            AuditLog(settings.home / "audit.jsonl", settings.log_prompts) if esc.audit else None)

    @property
    def active(self) -> bool:
        """Whether automatic triggers (overflow, low confidence, local failure) are evaluated at all."""
        return self.settings.escalation.enabled and self.cloud.configured

    def score(self, tokens: Sequence[TokenEvent], mode: Mode = "stream") -> dict[str, float]:
        """The window's signals plus the combined `score` and the `threshold` it is compared with."""
        signals = compute_signals(tokens[:self.windows[mode]])
        signals["score"] = self.calibrations[mode].score(signals)
        signals["threshold"] = self.thresholds[mode]
        return signals

    def open_cloud(self, messages: Sequence[ChatMessage], params: SamplingParams, privacy: Privacy,
                   deadline: float, cancel: threading.Event | None, trace: Trace,
                   prompt_tokens: int) -> Iterator[Event] | None:
        """The cloud's answer as events once it has started (before `deadline`), or None if it cannot."""
        redactor = Redactor(self.settings.escalation.redact_terms) if privacy == "redact" else None
        outgoing = ([ChatMessage(m.role, redactor.redact(m.content)) for m in messages] if redactor
                    else messages)
        trace.redactions = redactor.count if redactor else 0
        opened = time.monotonic()
        try:
            chunks = self.cloud.stream(outgoing, params, deadline, cancel)
        except CloudError as exc:
            trace.cloud_error, trace.cloud_ms = exc.cause, (time.monotonic() - opened) * 1000
            return None
        trace.cloud_ms = (time.monotonic() - opened) * 1000
        return self._events(chunks, redactor, trace, prompt_tokens, cancel)

    def _events(self, chunks: Iterator[CloudChunk], redactor: Redactor | None, trace: Trace,
                prompt_tokens: int,
                cancel: threading.Event | None) -> Iterator[Event]:
        first_at = time.monotonic()
        last: dict[str, Any] = {"finish": None, "usage": None, "n": 0}

        def texts() -> Iterator[str]:
            for chunk in chunks:
                last["n"] += 1
                last["finish"] = chunk.finish_reason or last["finish"]
                last["usage"] = chunk.usage or last["usage"]
                yield chunk.text

        restored: Callable[[Iterator[str]], Iterator[str]] = redactor.restore_stream if redactor else iter
        try:
            for text in restored(texts()):
                if text:
                    yield TextDelta(text)
        except CloudError as exc:
            trace.cloud_error = exc.cause
            raise
        usage = last["usage"] or {}
        reason = "cancelled" if cancel is not None and cancel.is_set() else (
            "length" if last["finish"] == "length" else "stop")
        now = time.monotonic()
        yield Finish(reason=reason, usage=Usage(int(usage.get("prompt_tokens") or prompt_tokens),
                                                int(usage.get("completion_tokens") or last["n"])),
                     timings=Timings(prefill_s=0.0, ttft_s=first_at - trace.started, decode_s=now - first_at))

    def record(self, trace: Trace, prompt: Any) -> None:
        if self.audit is not None:
            self.audit.write(trace.record(), prompt)
