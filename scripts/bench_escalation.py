"""Benchmark the escalation decision: its overhead once the decision window is full (signals, combined score,
policy) must stay <= 10 ms p50. Also reports what the window itself costs: time to first text with and without
it.

    python3 scripts/bench_escalation.py [--requests 20] [--window 8] [--threads 2]
        [--out bench-results/bench_escalation.json]

Prints a table and writes JSON. Runs the real default model; the cloud is configured but never reached
(threshold 1.0), so every request takes the windowed local path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.assistant import Assistant, ChatRequest
from assistant.engine.events import ChatMessage, TextDelta, TokenEvent
from assistant.engine.sampling import SamplingParams
from assistant.escalation import policy
from assistant.escalation.router import Escalator
from assistant.runtime import load_engine, open_store
from assistant.settings import DEFAULT_MODEL, load_settings

QUESTIONS = [
    "What is the capital of Sweden?",
    "What is 39 times 38?",
    "Who wrote Hamlet?",
    "How many legs does a spider have?",
    "What is the boiling point of water in Celsius?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def first_text_s(assistant: Assistant, request: ChatRequest) -> float:
    started = time.perf_counter()
    first = None
    for event in assistant.stream(request):
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter() - started
    return first if first is not None else float("nan")


def micro_decisions(engine, settings, params, k: int, repeats: int = 2000) -> list[float]:
    """Milliseconds per decision (signals + score + policy + decision object) on one real window of k tokens."""
    question = [ChatMessage("user", QUESTIONS[1])]
    events = engine.generate(question, params.model_copy(update={"top_logprobs": 2}))
    tokens = [e for e in events if isinstance(e, TokenEvent)][:k]
    escalator = Escalator(settings)
    micro = []
    for _ in range(repeats):
        started = time.perf_counter()
        signals = escalator.score(tokens)
        low = policy.low_confidence(signals["score"], settings.escalation.threshold)
        policy.decision("local-degraded" if low else "local", signals=signals)
        micro.append((time.perf_counter() - started) * 1000)
    return micro


def report(rows: list, result: dict, out: Path) -> None:
    report(rows, result, args.out)
    engine.close()


if __name__ == "__main__":
    main()
