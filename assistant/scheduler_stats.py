"""Counters a scheduler keeps about itself, for `/health`, `/metrics`, the chat CLI's `/stats` and Retry-After."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from .engine.sequence import Sequence


@dataclass
class SlotStats:
    """One slot's history."""

    requests: int = 0
    """Sequences admitted to this slot."""
    prompt_tokens: int = 0
    """Prompt tokens of those sequences."""
    cached_tokens: int = 0
    """Prompt tokens whose KV was reused (the slot's own cache or a copy from a sequence in flight)."""


@dataclass
class SchedulerStats:
    """Running totals; written by the scheduler's loop thread, read from anywhere."""

    n_slots: int
    """Slots of the engine."""
    steps: int = 0
    """Forward passes run."""
    step_sequences: int = 0
    """Sum over steps of the sequences in each (mean batch width = step_sequences / steps)."""
    step_tokens: int = 0
    """Tokens decoded over all steps (prompt chunks and generated tokens)."""
    queue_wait_s: float = 0.0
    """Summed time sequences waited for a slot."""
    slots: list[SlotStats] = field(default_factory=list)
    """Per-slot prompt-cache use."""
    _job_s: float = 5.0  # moving average of a sequence's time in its slot: a prior until one has finished
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.slots = [SlotStats() for _ in range(self.n_slots)]

    def admitted(self, slot: int, cached: int, prompt: int, waited_s: float) -> None:
        with self._lock:
            s = self.slots[slot]
            s.requests += 1
            s.prompt_tokens += prompt
            s.cached_tokens += cached
            self.queue_wait_s += waited_s

    def shared(self, slot: int, n: int) -> None:
        with self._lock:
            self.slots[slot].cached_tokens += n

    def stepped(self, n_sequences: int, n_tokens: int) -> None:
        self.steps += 1
        self.step_sequences += n_sequences
        self.step_tokens += n_tokens

    def finished(self, seq: Sequence) -> None:
        took = time.perf_counter() - seq.started
        self._job_s = 0.8 * self._job_s + 0.2 * took

    def retry_after_s(self, waiting: int) -> int:
        """Seconds until a waiting place is likely free: the queue ahead, served `n_slots` at a time."""
        return max(1, math.ceil(self._job_s * max(1, waiting) / max(1, self.n_slots)))

    @property
    def mean_batch(self) -> float:
        """Mean sequences per forward pass."""
        return self.step_sequences / self.steps if self.steps else 0.0

    def cache_hit_ratio(self, slot: int | None = None) -> float:
        """Share of prompt tokens served from the KV cache (one slot, or all)."""
        chosen = self.slots if slot is None else [self.slots[slot]]
        prompt = sum(s.prompt_tokens for s in chosen)
        return sum(s.cached_tokens for s in chosen) / prompt if prompt else 0.0
