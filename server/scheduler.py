"""The one owner of the Assistant (and so of the engine): a bounded queue and one generation thread.

The engine is not thread-safe, so every generation runs on the worker thread, one job at a time. A job is one HTTP
request: a list of sequences (its choices) sharing one cancel event and one deadline. Its events flow back to the
request's task through a `Channel`. The `Executor` is the seam for batched multi-sequence decoding: a batched
executor would take several queued jobs' sequences and decode them together, emitting the same `ChoiceEvent`s, with
nothing above the scheduler changing.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.engine.events import Event, Finish, RouteDecision, TextDelta, TokenEvent
from assistant.errors import HearthError

from .channel import Channel
from .errors import RequestTimeoutError, ServerBusyError, ShuttingDownError, as_hearth_error
from .metrics import Metrics
from .translate import Plan

log = logging.getLogger("hearth.server")


@dataclass(frozen=True, slots=True)
class ChoiceEvent:
    """An Assistant event of choice `index`."""

    index: int
    """Which choice (position in `Plan.requests`)."""
    event: Event
    """RouteDecision, TokenEvent, TextDelta or Finish."""


@dataclass(frozen=True, slots=True)
class JobFailed:
    """The job stopped with an error (no more events follow)."""

    error: HearthError
    """What went wrong (already a typed error)."""


@dataclass(frozen=True, slots=True)
class JobDone:
    """Every choice finished (the last item of a job that did not fail)."""


@dataclass
class Job:
    """One HTTP request's work as the worker sees it."""

    plan: Plan
    """The sequences to generate and their shared cancel event."""
    channel: Channel
    """Where events go."""
    deadline: float
    """`time.monotonic()` past which the job is abandoned."""
    enqueued: float = field(default_factory=time.monotonic)
    """When the request was accepted (time to first token counts from here)."""


class Executor(Protocol):
    """Runs jobs on the model; called from the worker thread only."""

    def run(self, job: Job) -> None:
        """Generate every sequence of `job`, putting ChoiceEvents and then JobDone or JobFailed on its channel."""
        ...


class SerialExecutor:
    """One sequence at a time through `Assistant.stream` (the engine has one llama.cpp sequence)."""

    def __init__(self, assistant: Any, metrics: Metrics) -> None:
        self.assistant = assistant
        self.metrics = metrics

    def run(self, job: Job) -> None:
        put = job.channel.put
        try:
            for index, request in enumerate(job.plan.requests):
                if job.plan.cancel.is_set():
                    break
                if time.monotonic() > job.deadline:
                    raise RequestTimeoutError("the request timed out waiting for the model")
                self._run_choice(job, index, request)
        except Exception as exc:  # noqa: BLE001  # a failing job must not take the worker thread down
            put(JobFailed(as_hearth_error(exc)))
            return
        put(JobDone())

    def _run_choice(self, job: Job, index: int, request: Any) -> None:
        put = job.channel.put
        want_tokens = job.plan.want_tokens
        first = index == 0
        for event in self.assistant.stream(request):
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
            elif not isinstance(event, TextDelta):
                continue
            put(ChoiceEvent(index, event))


class Scheduler:
    """Accepts jobs while there is room in the queue, runs them in order on one thread."""

    def __init__(self, executor: Executor, metrics: Metrics, queue_size: int, request_timeout_s: float) -> None:
        self._executor = executor
        self._metrics = metrics
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._timeout = request_timeout_s
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._current: Job | None = None
        self._avg_job_s = 5.0  # a prior for Retry-After until jobs have been timed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="hearth-generate", daemon=True)
        self._thread.start()

    def submit(self, plan: Plan, channel: Channel) -> Job:
        """Queue a job (raises ServerBusyError when the queue is full)."""
        if self._stopping:
            raise ShuttingDownError("the server is shutting down")
        job = Job(plan=plan, channel=channel, deadline=time.monotonic() + self._timeout)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServerBusyError(f"the request queue is full ({self._queue.maxsize} waiting); retry later",
                                  retry_after=self.retry_after()) from None
        self._metrics.queue_depth.set(self._queue.qsize())
        return job

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free (at least 1)."""
        return max(1, math.ceil(self._avg_job_s))

    @property
    def busy(self) -> bool:
        """Whether a job is running or waiting."""
        return self._current is not None or not self._queue.empty()

    @property
    def request_timeout_s(self) -> float:
        return self._timeout

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            self._metrics.queue_depth.set(self._queue.qsize())
            if job is None:
                return
            if job.plan.cancel.is_set():
                job.channel.put(JobDone())  # its client left while it waited
                continue
            started = time.monotonic()
            self._current = job
            try:
                self._executor.run(job)
            finally:
                self._current = None
            self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (time.monotonic() - started)

    def stop(self, timeout: float = 10.0) -> bool:
        """Refuse new jobs, cancel the running and queued ones, and wait for the worker; False if it is still
        running (then the engine must not be freed)."""
        self._stopping = True
        pending: list[Job] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                pending.append(job)
        for job in pending:
            job.plan.cancel.set()
            job.channel.put(JobFailed(ShuttingDownError("the server is shutting down")))
        if self._current is not None:
            self._current.plan.cancel.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the generation thread did not stop within %.0f s", timeout)
                return False
        return True
