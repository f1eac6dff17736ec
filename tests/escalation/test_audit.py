"""The audit log on a long-running device: owner-only permissions, rotation at the configured size."""

from __future__ import annotations

import json
import os
import stat

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage
from assistant.engine.sampling import SamplingParams
from assistant.escalation.audit import AuditLog

from .cloud_server import FakeCloud


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_created_for_the_owner_only_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        log = AuditLog(tmp_path / "home" / "audit.jsonl")
        log.write({"route": "local"})
    finally:
        os.umask(old)
    assert _mode(log.path) == 0o600
    assert log.read() == [{"route": "local"}]


def test_an_existing_world_readable_log_is_narrowed(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"route": "cloud"}\n')
    path.chmod(0o644)
    AuditLog(path).write({"route": "local"})
    assert _mode(path) == 0o600
    assert [r["route"] for r in _records(path)] == ["cloud", "local"]


def test_rotates_past_max_bytes_and_keeps_only_keep_files(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=100, keep=2)
    for i in range(7):  # each record is ~50 bytes: two fit in one file
        log.write({"i": i, "pad": "x" * 30})
    assert [r["i"] for r in _records(log.path)] == [6]
    assert [r["i"] for r in _records(log.rotated(1))] == [4, 5]
    assert [r["i"] for r in _records(log.rotated(2))] == [2, 3]
    assert not log.rotated(3).exists()
    assert all(_mode(p) == 0o600 for p in (log.path, log.rotated(1), log.rotated(2)))


def test_max_bytes_zero_never_rotates(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=0)
    for i in range(50):
        log.write({"i": i, "pad": "x" * 100})
    assert len(log.read()) == 50 and not log.rotated(1).exists()


def test_the_assistant_rotates_at_the_size_set_in_settings(make_assistant, cloud: FakeCloud, tmp_path):
    assistant = make_assistant(escalation={"audit_max_bytes": 200, "audit_keep": 1})
    request = ChatRequest(messages=[ChatMessage("user", "Hi")], route="cloud",
                          params=SamplingParams(temperature=0.0, max_tokens=4, seed=0))
    for _ in range(3):
        assistant.complete(request)
    path = tmp_path / "audit.jsonl"
    assert len(_records(path)) == 1 and len(_records(path.with_name("audit.jsonl.1"))) == 1
    assert not path.with_name("audit.jsonl.2").exists()
    assert _mode(path) == 0o600
