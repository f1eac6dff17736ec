"""The circuit breaker's states with a controllable clock."""

from __future__ import annotations

from assistant.escalation.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_n_failures_within_the_window() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, window_s=10, cooldown_s=5, clock=clock)
    b.record_failure()
    clock.now += 11  # the first failure leaves the window
    b.record_failure()
    b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow()


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, window_s=10, cooldown_s=5, clock=clock)
    b.record_failure()
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert b.state == "half-open"
    assert b.allow()
    assert not b.allow()  # a second caller waits for the probe's outcome


def test_probe_success_closes_and_failure_reopens() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, window_s=10, cooldown_s=5, clock=clock)
    b.record_failure()
    clock.now += 5
    assert b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow()
    clock.now += 5
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow() and b.allow()


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failures=2, window_s=60, cooldown_s=5, clock=Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state == "closed"
