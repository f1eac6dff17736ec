"""Prometheus metrics of one app, on its own registry (two apps in one process never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from assistant.engine.events import Finish, RouteDecision

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
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
        self.queue_depth = Gauge("hearth_queue_depth", "Requests waiting for the model.", registry=r)
        self.in_flight = Gauge("hearth_requests_in_flight", "Generation requests being served (queued or "
                               "running).", registry=r)
        self.decisions = Counter("hearth_route_decisions", "Routing decisions by route and reason.",
                                 ["route", "reason"], registry=r)

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
