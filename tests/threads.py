"""The CPU threads one test may give llama.cpp and Whisper (the one place the suite decides it).

`bash scripts/test.sh` runs the suite in pytest-xdist workers (`HEARTH_TEST_WORKERS`, default 2) side by side, so
each test gets its share of the physical cores, at most 2 (the small contexts the tests use gain little past
that). The share matters more than speed: on two cores, two llama.cpp pools of two threads each spin against
each other at every barrier and slow down several times (the brief's "collapse" on this machine kind).
"""

from __future__ import annotations

import os

import psutil

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
"""Test processes running at once: xdist sets PYTEST_XDIST_WORKER_COUNT in each worker; 1 without xdist."""
THREADS = max(1, min(2, (psutil.cpu_count(logical=False) or 1) // WORKERS))
"""Threads for one test's engine, speech model or child `hearth` process."""
ENV = {"HEARTH_ENGINE_N_THREADS": str(THREADS), "HEARTH_VOICE_WHISPER_THREADS": str(THREADS)}
"""The same budget as settings environment, for `hearth` children and settings loaded in the test process."""
