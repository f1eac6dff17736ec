"""The escalation side of the Assistant: scoring a local answer's decision window, sending a (possibly
redacted) conversation to the cloud and turning its stream into Hearth events, and auditing every request.

The score of a window is the calibration's answer hidden-state probe where it has one, the engine gives hidden
states and the probe was fit for the loaded model; otherwise (and for a request whose hidden-state pass fails)
the fit on the window's distribution signals, which costs no extra pass."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..engine.events import ChatMessage, Event, Finish, TextDelta, Timings, TokenEvent, ToolCall, Usage
from ..engine.sampling import SamplingParams
from ..errors import CloudError, HearthError
from ..settings import Privacy, Settings
from ..tools import ToolSpec
from .audit import AuditLog
from .cloud import CloudChunk, CloudClient
from .defaults import Mode
from .probe import AnswerStates, model_sha256, probe_unavailable
from .redact import Redactor
from .scoring import Calibration, Probe, load_calibration
from .signals import compute_signals
from .wire import CallAssembler

log = logging.getLogger("hearth.escalation")


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


def _tool_calibration(directory, fallback: Calibration) -> Calibration:
    """The tool-call fit (the shipped one for the default model, or `tool_fit --out DIR` with
    `escalation.calibration_dir = DIR`); without one, calls are scored with `fallback`, the non-streamed answers'
    fit, which escalates nearly every call."""
    try:
        return load_calibration("tools", directory)
    except FileNotFoundError:
        log.info("escalation: no tool-call calibration; tool calls are scored with the answers' fit")
        return fallback


class Escalator:
    """Owns the cloud client (with its breaker), the calibrated scores and the audit log of one Assistant."""

    def __init__(self, settings: Settings, cloud: CloudClient | None = None,
                 audit: AuditLog | None = None, scheduler=None) -> None:
        """`scheduler`: the `Scheduler` owning the local model, through which the answer probe reads hidden
        states (None: the distribution fit only)."""
        self.settings = settings
        self.cloud = cloud or CloudClient(settings.cloud)
        esc = settings.escalation
        self.calibrations = {mode: load_calibration(mode, esc.calibration_dir) for mode in ("stream", "complete")}
        self.calibrations["tools"] = _tool_calibration(esc.calibration_dir, self.calibrations["complete"])
        # A call is scored whole: the tool calibration's window covers every call it was fit on.
        windows = {"stream": esc.decision_window, "complete": esc.complete_window, "tools": None}
        self.windows = {mode: windows[mode] or self.calibrations[mode].window for mode in windows}
        self.states: AnswerStates | None = None
        self.probes, self.probe_off = self._probes(scheduler)
        # A fixed threshold wins (for whichever score is used); otherwise the one that escalates `target_rate`
        # of held-out answers, read from that score's own validation quantiles.
        fixed = {"stream": esc.threshold, "complete": esc.complete_threshold, "tools": esc.threshold}
        self.fit_thresholds = {mode: fixed[mode] if fixed[mode] is not None
                               else self.calibrations[mode].threshold_for(esc.target_rate) for mode in fixed}
        self.thresholds = {mode: fixed[mode] if fixed[mode] is not None
                           else probe.threshold_for(esc.target_rate) if (probe := self.probes.get(mode))
                           else self.fit_thresholds[mode] for mode in fixed}
        self.audit = audit if audit is not None else (
            AuditLog(settings.home / "audit.jsonl", settings.log_prompts, max_bytes=esc.audit_max_bytes,
                     keep=esc.audit_keep) if esc.audit else None)

    def _probes(self, scheduler) -> tuple[dict[Mode, Probe], dict[Mode, str]]:
        """The probes usable with `scheduler`'s model per mode, and why each other calibrated probe is not
        (logged once: those requests are scored with the distribution fit)."""
        wanted = {mode: cal.probe for mode, cal in self.calibrations.items() if cal.probe is not None}
        if not wanted:
            return {}, {}
        engine = scheduler.engine if scheduler is not None else None
        reason = probe_unavailable(engine)
        usable: dict[Mode, Probe] = {}
        off: dict[Mode, str] = {}
        for mode, probe in wanted.items():
            why = reason
            if why is None and self.windows[mode] != self.calibrations[mode].window:
                # A mean over another number of answer tokens is a state the probe never saw.
                why = (f"the probe was fit for a window of {self.calibrations[mode].window} tokens, the "
                       f"decision window is {self.windows[mode]}")
            if why is None:
                self.states = self.states or AnswerStates(scheduler)
                why = probe.mismatch(engine.info.id, engine.info.quantization, self.states.n_embd,
                                     lambda: model_sha256(engine.info.path))
            if why is None:
                usable[mode] = probe
            else:
                off[mode] = why
                log.warning("escalation (%s answers): %s; scoring with the distribution fit instead", mode, why)
        return usable, off

    @property
    def active(self) -> bool:
        """Whether automatic triggers (overflow, low confidence, local failure) are evaluated at all."""
        return self.settings.escalation.enabled and self.cloud.configured

    def wants_prompt(self, mode: Mode) -> bool:
        """Whether `score` in `mode` uses the prompt's tokens (the answer probe runs)."""
        return mode in self.probes and self.states is not None

    def score(self, tokens: Sequence[TokenEvent], mode: Mode = "stream",
              prompt: Sequence[int] | None = None) -> dict[str, float]:
        """The window's signals plus the combined `score` and the `threshold` it is compared with.

        With the `prompt`'s token ids and a usable probe for `mode`, `score` is the probe's P(wrong) on the
        window's mean hidden state (`fit_score`: the distribution fit's, `probe_ms`: the hidden-state pass);
        if the pass fails (busy, timed out, llama.cpp error) the request falls back to the fit, logged."""
        window = tokens[:self.windows[mode]]
        signals = compute_signals(window)
        fit = self.calibrations[mode].score(signals)
        probe = self.probes.get(mode)
        if prompt is not None and probe is not None and self.states is not None:
            started = time.perf_counter()
            try:
                state = self.states.window_state(prompt, [t.token_id for t in window])
            except (HearthError, TimeoutError) as exc:
                log.warning("escalation: the answer probe's hidden-state pass failed (%s); scoring with the "
                            "distribution fit", exc)
            else:
                signals["probe_ms"] = (time.perf_counter() - started) * 1000
                signals["fit_score"] = fit
                signals["score"] = probe.score(state)
                signals["threshold"] = self.thresholds[mode]
                return signals
        signals["score"] = fit
        signals["threshold"] = self.fit_thresholds[mode]
        return signals

    def open_cloud(self, messages: Sequence[ChatMessage], params: SamplingParams, privacy: Privacy,
                   deadline: float, cancel: threading.Event | None, trace: Trace,
                   prompt_tokens: int, tools: ToolSpec | None = None) -> Iterator[Event] | None:
        """The cloud's answer as events once it has started (before `deadline`), or None if it cannot. With
        `tools` the cloud is offered them and its calls come back as `ToolCall` events (each of an offered tool,
        with a JSON object of arguments, else CloudError mid-stream). Under privacy `redact` the text, the tool
        calls' arguments and the tool results are redacted on the way out and restored on the way back."""
        redactor = Redactor(self.settings.escalation.redact_terms) if privacy == "redact" else None
        outgoing = [redactor.redact_message(m) for m in messages] if redactor else messages
        trace.redactions = redactor.count if redactor else 0
        opened = time.monotonic()
        try:
            chunks = self.cloud.stream(outgoing, params, deadline, cancel, tools)
        except CloudError as exc:
            trace.cloud_error, trace.cloud_ms = exc.cause, (time.monotonic() - opened) * 1000
            return None
        trace.cloud_ms = (time.monotonic() - opened) * 1000
        return self._events(chunks, redactor, trace, prompt_tokens, cancel, CallAssembler(tools))

    def _events(self, chunks: Iterator[CloudChunk], redactor: Redactor | None, trace: Trace,
                prompt_tokens: int, cancel: threading.Event | None,
                calls: CallAssembler) -> Iterator[Event]:
        first_at = time.monotonic()
        last: dict[str, Any] = {"finish": None, "usage": None, "n": 0}
        done: list[ToolCall] = []  # calls completed by the chunk whose text is being released

        def texts() -> Iterator[str]:
            for chunk in chunks:
                last["n"] += 1
                last["finish"] = chunk.finish_reason or last["finish"]
                last["usage"] = chunk.usage or last["usage"]
                done.extend(calls.feed(chunk.calls))
                yield chunk.text
            done.extend(calls.finish())

        def released() -> Iterator[ToolCall]:
            while done:
                call = done.pop(0)
                yield (dataclasses.replace(call, arguments=redactor.restore_arguments(call.arguments))
                       if redactor else call)

        restored: Callable[[Iterator[str]], Iterator[str]] = redactor.restore_stream if redactor else iter
        try:
            for text in restored(texts()):
                if text:
                    yield TextDelta(text)
                yield from released()
            yield from released()
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

    def close(self) -> None:
        """Release the cloud client's connections and the hidden-state context."""
        self.cloud.close()
        if self.states is not None:
            self.states.close()

    def record(self, trace: Trace, prompt: Any) -> None:
        if self.audit is not None:
            self.audit.write(trace.record(), prompt)
