"""Prometheus metrics of one app, on its own registry (two apps in one process never share counters)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from assistant.engine.events import Finish, RouteDecision

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WIDTH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)
_RATE_BUCKETS = (1, 2, 5, 10, 20, 40, 60, 80, 100, 125, 150, 200, 300, 500, 1000)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Everything `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("hearth_http_requests", "HTTP requests by route and status.",
                                ["route", "status"], registry=r)
        self.prompt_tokens = Counter("hearth_prompt_tokens", "Prompt tokens processed.", registry=r)
        self.completion_tokens = Counter("hearth_completion_tokens", "Tokens generated.", registry=r)
        self.ttft = Histogram("hearth_time_to_first_token_seconds", "From accepting a request to its first "
                              "generated token (queueing included).", buckets=_LATENCY_BUCKETS, registry=r)
        self.decode_rate = Histogram("hearth_decode_tokens_per_second", "Decode rate of each generation after its "
                                     "first token.", buckets=_RATE_BUCKETS, registry=r)
        self.queue_depth = Gauge("hearth_queue_depth", "Sequences waiting for a free slot.", registry=r)
        self.in_flight = Gauge("hearth_requests_in_flight", "Generation requests being served (queued or "
                               "running).", registry=r)
        self.decisions = Counter("hearth_route_decisions", "Routing decisions by route and reason.",
                                 ["route", "reason"], registry=r)
        self.slots_total = Gauge("hearth_slots", "Slots: sequences the model decodes together.", registry=r)
        self.slots_busy = Gauge("hearth_slots_busy", "Slots holding a sequence.", registry=r)
        self.step_sequences = Histogram("hearth_step_sequences", "Sequences in each forward pass (batch width).",
                                        buckets=_WIDTH_BUCKETS, registry=r)
        self.queue_wait = Histogram("hearth_queue_wait_seconds", "From submitting a sequence to its slot.",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.slot_prompt_tokens = Counter("hearth_slot_prompt_tokens", "Prompt tokens admitted, by slot.",
                                          ["slot"], registry=r)
        self.slot_cached_tokens = Counter("hearth_slot_cached_tokens", "Prompt tokens served from the KV cache "
                                          "(prompt-cache hits), by slot.", ["slot"], registry=r)

    def watch(self, scheduler: Any) -> None:
        """Report `scheduler`'s slots and steps (it calls `on_admit` / `on_step` from its loop thread)."""
        self.slots_total.set(scheduler.engine.n_slots)
        self.slots_busy.set_function(lambda: scheduler.busy_slots)
        self.queue_depth.set_function(lambda: scheduler.waiting)
        scheduler.observer = self

    def on_admit(self, queue_wait_s: float, slot: int, cached_tokens: int, prompt_tokens: int) -> None:
        self.queue_wait.observe(queue_wait_s)
        self.slot_prompt_tokens.labels(slot=str(slot)).inc(prompt_tokens)
        self.slot_cached_tokens.labels(slot=str(slot)).inc(cached_tokens)

    def on_step(self, n_sequences: int, n_tokens: int) -> None:
        self.step_sequences.observe(n_sequences)

    def observe_finish(self, finish: Finish) -> None:
        self.prompt_tokens.inc(finish.usage.prompt_tokens)
        self.completion_tokens.inc(finish.usage.completion_tokens)
        rate = finish.timings.decode_tok_s(finish.usage.completion_tokens)
        if rate > 0:
            self.decode_rate.observe(rate)

    def observe_decision(self, decision: RouteDecision) -> None:
        for reason in decision.reasons or ("default",):
            self.decisions.labels(route=decision.route, reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
