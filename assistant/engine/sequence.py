"""One sequence being generated in a slot of a batched engine: its prompt, sampler, text stream and progress.

A `Sequence` is created by `Engine.begin`, advanced by `Engine.step` (several sequences per step, one llama.cpp
batch) and closed by `Engine.end`. It holds no llama.cpp objects of its own except its sampler; the KV cache
lives in the engine's context under the sequence's slot (the llama.cpp `seq_id`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .events import EngineEvent, FinishReason
from .sampling import SamplingParams
from .textstream import TextStream


@dataclass(eq=False)
class Sequence:
    """Per-sequence state; read by the scheduler, written by the engine."""

    slot: int
    """The llama.cpp sequence id whose KV cells this sequence uses (0 <= slot < engine.n_slots)."""
    prompt: list[int]
    """The prompt's token ids."""
    params: SamplingParams
    """How to sample."""
    sampler: Any
    """The sequence's `SequenceSampler` (freed by `Engine.end`)."""
    stream: TextStream
    """Bytes of sampled tokens -> final text, stop strings held back."""
    limit: int
    """Most tokens to generate: max_tokens, capped by the room left in the context window."""
    n_past: int
    """Tokens of this sequence whose KV entries are in the cache (positions 0..n_past-1)."""
    cached: int
    """Prompt tokens that were already in the cache when the sequence began (prompt-cache hit)."""
    started: float = field(default_factory=time.perf_counter)
    """`perf_counter()` when the request reached the engine."""
    prefilled: float | None = None
    """When the last prompt token was decoded."""
    first: float | None = None
    """When the first token was sampled."""
    n_out: int = 0
    """Tokens sampled so far."""
    next_token: int | None = None
    """The last sampled token, fed to the next step (None while the prompt is being processed)."""
    events: list[EngineEvent] = field(default_factory=list)
    """Events produced by the last step (the scheduler takes them)."""
    done: FinishReason | None = None
    """Why generation stopped, once it has (then `Engine.end` emits the Finish)."""

    @property
    def pending(self) -> int:
        """Prompt tokens not yet decoded (generated tokens follow the prompt in the cache)."""
        return max(0, len(self.prompt) - self.n_past)

    @property
    def prefilling(self) -> bool:
        return self.pending > 0 and self.done is None

    def take_events(self) -> list[EngineEvent]:
        out, self.events = self.events, []
        return out


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
