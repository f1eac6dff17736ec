"""The one owner of a loaded model: slots, a bounded wait queue, and the decode loop that batches every sequence.

Every surface's request reaches the engine through `Scheduler.generate`, called on the surface's own thread; it
returns an iterator fed by the scheduler's single loop thread, which alone calls the engine's `begin`, `step` and
`end`. Each loop iteration:
1. admits waiting sequences into free slots: the free slot whose cached tokens share the longest prefix with the
   prompt (its KV is reused), among those whose cache it would keep at least half of, else the least recently
   used one; a prompt that shares a longer prefix with a sequence already in flight copies that prefix's KV
   instead of computing it (n > 1 choices, a common system prompt), waiting for the source's prefill to reach it
   if need be;
2. ends sequences whose consumer cancelled or went away (their slot is free within this iteration);
3. runs one engine step: every decoding sequence's next token plus prompt chunks, `n_batch` tokens at most, so a
   long prompt is processed chunk by chunk between the other streams' tokens;
4. hands each sequence its events (one queue put per sequence per step).
The same design as llama.cpp's server (`tools/server/server.cpp`: slots, `get_available_slot` by longest common
prefix, `update_slots` mixing prompt chunks with decode tokens).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin before Python 3.11
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .engine.events import EngineEvent, Finish, Timings, Usage
from .engine.protocol import Engine, Prompt
from .engine.sampling import SamplingParams
from .engine.sequence import Sequence, common_prefix
from .errors import EngineBusyError, EngineError, HearthError
from .scheduler_stats import SchedulerStats

log = logging.getLogger("hearth.scheduler")
_WAKE_S = 1.0  # longest a consumer waits before checking that the loop thread is still alive


class SchedulerObserver(Protocol):
    """Receives what a metrics surface shows (called on the loop thread; must be quick)."""

    def on_admit(self, queue_wait_s: float, slot: int, cached_tokens: int, prompt_tokens: int) -> None: ...

    def on_step(self, n_sequences: int, n_tokens: int) -> None: ...


@dataclass(eq=False)
class _Request:
    tokens: list[int]
    params: SamplingParams
    cancel: threading.Event | None
    """The caller's event (may be shared, e.g. by the choices of one HTTP request)."""
    closed: threading.Event = field(default_factory=threading.Event)
    """Set when this request's consumer stops reading."""
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    enqueued: float = field(default_factory=time.perf_counter)
    seq: Sequence | None = None
    waits_for: tuple[_Request, int] | None = None  # (source in flight, prefix length) whose KV will be copied

    @property
    def cancelled(self) -> bool:
        return self.closed.is_set() or (self.cancel is not None and self.cancel.is_set())


class _Failed:
    def __init__(self, error: HearthError) -> None:
        self.error = error


_END = object()
T = TypeVar("T")


class Scheduler:
    """Serves `engine` to any number of threads; `max_queue` sequences may wait for a slot (more raise
    EngineBusyError, which is never a reason to escalate)."""

    @classmethod
    def of(cls, engine: Engine, *, max_queue: int = 64) -> Scheduler:
        """The scheduler that owns `engine`, made now if it has none (one owner per loaded model)."""
        owner = engine.owner
        if isinstance(owner, Scheduler) and owner.running:
            return owner
        return cls(engine, max_queue=max_queue)

    def __init__(self, engine: Engine, *, max_queue: int = 64, observer: SchedulerObserver | None = None) -> None:
        engine.claim(self)
        self.engine = engine
        self.max_queue = max_queue
        self.observer = observer
        self.stats = SchedulerStats(engine.n_slots)
        self._waiting: deque[_Request] = deque()
        self._tasks: deque[tuple[Callable[[], object], Future]] = deque()
        self._slots: list[_Request | None] = [None] * engine.n_slots
        self._last_used = [0.0] * engine.n_slots
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="hearth-scheduler", daemon=True)
        self._thread.start()

    # -- the callers' side --------------------------------------------------------------------------------------
    def generate(self, prompt: Prompt, params: SamplingParams, *,
                 cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Events of one generation, as `Engine.generate` yields them. Tokenizes and checks the prompt on the
        caller's thread (InvalidRequestError, also for what the backend's capabilities lack, and ContextOverflowError
        raised here); raises EngineBusyError when the
        wait queue is full. Closing the iterator or setting `cancel` frees the slot within one step."""
        self.engine.capabilities.check(params)
        tokens = self.engine.prompt_tokens(prompt)
        self.engine.check_prompt(tokens)
        request = _Request(tokens, params, cancel)
        with self._cond:
            if self._stopping:
                raise EngineError("the model is shutting down")
            # Submitted but not yet admitted sequences that a free slot will take do not count as waiting.
            queued = len(self._waiting) + self.busy_slots - len(self._slots)
            if queued >= self.max_queue:
                raise EngineBusyError(f"{queued} requests are already waiting for the model; retry later",
                                      retry_after=self.stats.retry_after_s(queued))
            self._waiting.append(request)
            self._cond.notify()
        return self._events(request)

    def _events(self, request: _Request) -> Iterator[EngineEvent]:
        try:
            while True:
                try:
                    item = request.out.get(timeout=_WAKE_S)
                except queue.Empty:
                    if not self._thread.is_alive():
                        raise EngineError("the model's scheduler stopped") from None
                    continue
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield from item
        finally:
            request.closed.set()  # a consumer that stops reading frees its slot (no-op once finished)
            with self._cond:
                self._cond.notify()

    def call(self, fn: Callable[[], T], *, timeout: float | None = None) -> T:
        """Run `fn()` on the loop thread between two steps and return its result (its exception is raised here).

        For work on the same weights outside the slots, e.g. embeddings on a context of their own: it never runs
        beside a decode, so the model's threads are never shared by two computations. Raises EngineBusyError when
        `max_queue` calls already wait, EngineError when the model is shutting down, TimeoutError after `timeout`
        seconds (the call still runs if it had started)."""
        future: Future = Future()
        with self._cond:
            if self._stopping:
                raise EngineError("the model is shutting down")
            if len(self._tasks) >= self.max_queue:
                raise EngineBusyError(f"{len(self._tasks)} calls are already waiting for the model; retry later",
                                      retry_after=self.stats.retry_after_s(len(self._tasks)))
            self._tasks.append((fn, future))
            self._cond.notify()
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"the model did not run the call within {timeout} s") from None

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive (the engine must not be freed while it is)."""
        return self._thread.is_alive()

    @property
    def busy_slots(self) -> int:
        return sum(r is not None for r in self._slots)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel everything, end the loop and release the engine; False if the loop did not end in time (then
        the engine must not be freed)."""
        with self._cond:
            self._stopping = True
            for request in [*self._waiting, *filter(None, self._slots)]:
                request.closed.set()
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the scheduler loop did not stop within %.0f s", timeout)
            return False
        self.engine.release(self)
        return True

    # -- the loop thread ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._waiting and not self._tasks and not any(self._slots):
                    self._cond.wait()
                if self._stopping and not any(self._slots):
                    for request in self._waiting:
                        request.out.put(_Failed(EngineError("the model is shutting down")))
                    self._waiting.clear()
                    for _, future in self._tasks:
                        future.set_exception(EngineError("the model is shutting down"))
                    self._tasks.clear()
                    return
                self._admit()
                task = self._tasks.popleft() if self._tasks else None
            self._reap()
            self._step()
            if task is not None:
                self._run_task(*task)

    @staticmethod
    def _run_task(fn: Callable[[], object], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return  # the caller gave up before it started
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001  # handed to the caller, who raises it on its own thread
            future.set_exception(exc)

    def _admit(self) -> None:
        """Move waiting requests into free slots (called with the lock held)."""
        while self._waiting:
            request = self._waiting[0]
            if request.cancelled:  # cancelled before it got a slot: it ends like any cancelled generation
                self._waiting.popleft()
                waited = time.perf_counter() - request.enqueued
                request.out.put([Finish("cancelled", Usage(len(request.tokens), 0),
                                        Timings(prefill_s=0.0, ttft_s=waited, decode_s=0.0))])
                request.out.put(_END)
                continue
            slot = self._pick_slot(request.tokens)
            if slot is None:
                return
            self._waiting.popleft()
            self._start(request, slot)

    def _pick_slot(self, tokens: list[int]) -> int | None:
        free = [i for i, r in enumerate(self._slots) if r is None]
        if not free:
            return None
        if not self.engine.capabilities.prefix_cache:  # nothing to reuse: the least recently used slot
            return min(free, key=lambda i: self._last_used[i])
        return max(free, key=lambda i: self._reuse(i, tokens))

    def _reuse(self, slot: int, tokens: list[int]) -> tuple[bool, int, float]:
        """How good `slot` is for a prompt: whether the prompt keeps at least half of the slot's cache, the tokens it
        reuses if so, then the least recently used first. A prompt that merely shares a system prompt with a long
        conversation would destroy that conversation's cache to save a few tokens; llama.cpp's server keeps the
        same 0.5 ratio before it moves such a cache to host memory (`get_available_slot`), which Hearth does not
        have, so the conversation keeps its slot and the prompt takes another."""
        cached = self.engine.slot_tokens(slot)
        reused = common_prefix(cached, tokens)
        keeps_half = 2 * reused >= len(cached)
        return keeps_half, reused if keeps_half else 0, -self._last_used[slot]

    def _start(self, request: _Request, slot: int) -> None:
        try:
            seq = self.engine.begin(slot, request.tokens, request.params, started=request.enqueued)
        except HearthError as exc:
            request.out.put(_Failed(exc))
            return
        request.seq = seq
        self._slots[slot] = request
        source = self._best_source(request) if self.engine.capabilities.prefix_cache else None
        if source is not None:
            request.waits_for = source
        self.stats.admitted(slot, seq.cached, len(request.tokens), time.perf_counter() - request.enqueued)
        if self.observer is not None:
            self.observer.on_admit(time.perf_counter() - request.enqueued, slot, seq.cached, len(request.tokens))

    def _best_source(self, request: _Request) -> tuple[_Request, int] | None:
        """A sequence in flight whose prompt shares a longer prefix with `request` than its own slot cached."""
        seq = request.seq
        assert seq is not None
        best: tuple[_Request, int] | None = None
        for other in self._slots:
            if other is None or other is request or other.seq is None:
                continue
            n = min(common_prefix(other.tokens, request.tokens), len(request.tokens) - 1)
            if n > seq.n_past and (best is None or n > best[1]):
                best = (other, n)
        return best

    def _reap(self) -> None:
        """End cancelled sequences; copy shared prefixes whose source is ready."""
        for slot, request in enumerate(self._slots):
            if request is None or request.seq is None:
                continue
            if request.cancelled:
                self._finish(slot, request)
            elif request.waits_for is not None:
                self._maybe_share(request)

    def _maybe_share(self, request: _Request) -> None:
        source, n = request.waits_for  # type: ignore[misc]
        seq = request.seq
        assert seq is not None
        if source.seq is None or source.seq.done is not None or source not in self._slots:
            request.waits_for = None  # the source is gone: compute the prompt ourselves
            return
        if source.seq.n_past >= n:
            self.engine.share(source.seq.slot, seq, n)
            self.stats.shared(seq.slot, n)
            request.waits_for = None

    def _step(self) -> None:
        runnable = [r.seq for r in self._slots if r is not None and r.seq is not None and r.waits_for is None]
        if not runnable:
            return  # only sequences waiting for a source's prefill: `_reap` settles them next iteration
        try:
            n_tokens = self._decode(runnable)
        except HearthError as exc:
            self._fail_all(exc)
            return
        self.stats.stepped(len(runnable), n_tokens)
        if self.observer is not None:
            self.observer.on_step(len(runnable), n_tokens)
        for slot, request in enumerate(self._slots):
            if request is None or request.seq is None:
                continue
            if request.seq.done is not None:
                self._finish(slot, request)
            elif request.seq.events:
                request.out.put(request.seq.take_events())

    def _decode(self, seqs: list[Sequence]) -> int:
        before = sum(s.n_past for s in seqs)
        self.engine.step(seqs)
        return sum(s.n_past for s in seqs) - before

    def _finish(self, slot: int, request: _Request) -> None:
        assert request.seq is not None
        request.out.put(self.engine.end(request.seq))
        request.out.put(_END)
        self.stats.finished(request.seq)
        self._release(slot)

    def _release(self, slot: int) -> None:
        with self._cond:
            self._slots[slot] = None
            self._last_used[slot] = time.monotonic()

    def _fail_all(self, error: HearthError) -> None:
        for slot, request in enumerate(self._slots):
            if request is None:
                continue
            if request.seq is not None:
                self.engine.end(request.seq)
            request.out.put(_Failed(error))
            self._release(slot)
