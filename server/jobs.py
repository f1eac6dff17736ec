"""HTTP jobs: admission (a bounded number of requests in flight) and one thread per choice reading the Assistant.

The model has one owner, the core scheduler (`assistant.scheduler`), which batches every sequence; this module
only decides how many HTTP requests may be in flight at once (`slots + server.queue_size`; more get 429 with
Retry-After) and runs each choice's `Assistant.stream` on its own thread, so a choice that waits on the cloud
holds a thread, never the model. A job is one HTTP request: its choices share one cancel event; their events flow
back to the request's task through a `Channel`, tagged with the choice index, then JobDone or JobFailed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.events import (
    Event,
    Finish,
    RouteDecision,
    TextDelta,
    TokenEvent,
    ToolCall,
    ToolCallDelta,
)
from assistant.errors import EngineBusyError, HearthError

from .channel import Channel
from .errors import ShuttingDownError, as_hearth_error
from .metrics import Metrics
from .translate import JobSpec

log = logging.getLogger("hearth.server")


@dataclass(frozen=True, slots=True)
class ChoiceEvent:
    """An Assistant event of choice `index`."""

    index: int
    """Which choice (position in `JobSpec.requests`)."""
    event: Event
    """RouteDecision, TokenEvent, TextDelta, ToolCall or Finish."""


@dataclass(frozen=True, slots=True)
class JobFailed:
    """The job stopped with an error (no more events follow)."""

    error: HearthError
    """What went wrong (already a typed error)."""


@dataclass(frozen=True, slots=True)
class JobDone:
    """Every choice finished (the last item of a job that did not fail)."""


@dataclass(eq=False)
class Job:
    """One HTTP request's work."""

    plan: JobSpec
    """The sequences to generate and their shared cancel event."""
    channel: Channel
    """Where events go."""
    enqueued: float = field(default_factory=time.monotonic)
    """When the request was accepted (time to first token counts from here)."""
    remaining: int = 0
    """Choices still running."""
    failed: bool = False
    """A choice failed (JobFailed was sent; the others are cancelled)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class JobRunner:
    """Admits jobs while fewer than `capacity` are in flight and runs their choices on threads."""

    def __init__(self, assistant: Any, metrics: Metrics, queue_size: int, request_timeout_s: float) -> None:
        self.assistant = assistant
        self.metrics = metrics
        self.capacity = assistant.scheduler.engine.n_slots + queue_size
        self._timeout = request_timeout_s
        self._jobs: set[Job] = set()
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def request_timeout_s(self) -> float:
        return self._timeout

    @property
    def busy(self) -> bool:
        """Whether any job is in flight."""
        return bool(self._jobs)

    def retry_after(self) -> int:
        """Seconds until a place is likely free (at least 1): the scheduler's estimate for the jobs beyond its
        slots."""
        scheduler = self.assistant.scheduler
        return scheduler.stats.retry_after_s(len(self._jobs) - scheduler.engine.n_slots + 1)

    def submit(self, plan: JobSpec, channel: Channel) -> Job:
        """Start a job (EngineBusyError when `capacity` jobs are in flight, ShuttingDownError when stopping)."""
        job = Job(plan=plan, channel=channel, remaining=len(plan.requests))
        with self._lock:
            if self._stopping:
                raise ShuttingDownError("the server is shutting down")
            if len(self._jobs) >= self.capacity:
                raise EngineBusyError(f"{len(self._jobs)} requests are in flight, the most this server takes; "
                                      "retry later", retry_after=self.retry_after())
            self._jobs.add(job)
        for index, request in enumerate(plan.requests):
            threading.Thread(target=self._run_choice, args=(job, index, request), daemon=True,
                             name=f"hearth-choice-{index}").start()
        return job

    def _run_choice(self, job: Job, index: int, request: Any) -> None:
        try:
            self._stream(job, index, request)
        except Exception as exc:  # noqa: BLE001  # a failing choice must reach its client, not kill a thread
            with job.lock:
                first_failure, job.failed = not job.failed, True
            if first_failure:
                job.plan.cancel.set()
                job.channel.put(JobFailed(as_hearth_error(exc)))
        finally:
            with job.lock:
                job.remaining -= 1
                last = job.remaining == 0
            if last:
                self._done(job)

    def _stream(self, job: Job, index: int, request: Any) -> None:
        put, want_tokens = job.channel.put, job.plan.want_tokens
        first = True
        for event in self.assistant.stream(request):
            if job.failed:
                return
            if first and isinstance(event, (TokenEvent, TextDelta)):  # a cloud answer has no TokenEvents
                self.metrics.ttft.observe(time.monotonic() - job.enqueued)
                first = False
            if isinstance(event, TokenEvent):
                if not want_tokens:
                    continue
            elif isinstance(event, Finish):
                self.metrics.observe_finish(event)
            elif isinstance(event, RouteDecision):
                self.metrics.observe_decision(event)
            elif not isinstance(event, (TextDelta, ToolCall, ToolCallDelta)):
                continue
            put(ChoiceEvent(index, event))

    def _done(self, job: Job) -> None:
        if not job.failed:
            job.channel.put(JobDone())
        with self._lock:
            self._jobs.discard(job)

    def stop(self, timeout: float = 10.0) -> bool:
        """Refuse new jobs, cancel those in flight and wait for them; False if some are still running (then the
        engine must not be freed)."""
        with self._lock:
            self._stopping = True
            jobs = list(self._jobs)
        for job in jobs:
            job.plan.cancel.set()
        deadline = time.monotonic() + timeout
        while self._jobs and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._jobs:
            log.warning("%d requests did not stop within %.0f s", len(self._jobs), timeout)
            return False
        return True
