"""Fixtures for escalation tests: the fake cloud on a loopback port and Assistants wired to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.assistant import Assistant
from assistant.settings import load_settings

from .cloud_server import FakeCloud

API_KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def cloud():
    server = FakeCloud().start()
    yield server
    server.stop()


@pytest.fixture
def make_assistant(engine, tmp_path: Path, cloud: FakeCloud):
    """Build an Assistant on the shared engine; keyword groups override settings (cloud points at `cloud`)."""
    made: list[Assistant] = []

    def make(*, base_url: str | None = "fake", **overrides) -> Assistant:
        cloud_cfg = {
            "base_url": cloud.url if base_url == "fake" else base_url,
            "model": "big-cloud-model",
            "api_key": API_KEY,
            "deadline_s": 5.0,
            "backoff_s": 0.05,
            "connect_timeout_s": 1.0,
        }
        cloud_cfg.update(overrides.pop("cloud", {}))
        escalation = {"decision_window": 4, **overrides.pop("escalation", {})}
        if "threshold" in escalation:  # tests mean both the streamed and the non-streamed decision
            escalation.setdefault("complete_threshold", escalation["threshold"])
        settings = load_settings(
            model=str(engine.info.path), home=tmp_path, cloud=cloud_cfg, escalation=escalation, **overrides
        )
        assistant = Assistant(engine, settings)
        made.append(assistant)
        return assistant

    yield make
    for assistant in made:
        assistant.close()


def audit_records(assistant: Assistant) -> list[dict]:
    assert assistant.escalator.audit is not None
    return assistant.escalator.audit.read()
