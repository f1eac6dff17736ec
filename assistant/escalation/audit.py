"""The audit log: one JSON line per request under $HEARTH_HOME (route, reasons, signal values, redaction
count, latencies). Prompt text appears only when `log_prompts` is set; the API key never does.

The file is created with mode 0600 (an existing one is narrowed to it), since routes and signals describe what the
user asked even without prompt text. Past `max_bytes` it is rotated: `audit.jsonl` becomes `audit.jsonl.1`, the
older ones shift up, and only `keep` of them stay, so a device that runs for months keeps a bounded log."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("hearth.audit")
MODE = 0o600


class AuditLog:
    """Appends records to a JSON-lines file; a failing disk is logged once and never fails a request.

    `max_bytes`: size past which the file is rotated before the next record (0: never); `keep`: rotated files
    kept (`.1` is the newest). Several processes may share the file: each write is one O_APPEND write, and a
    rotation that races another one at worst rotates twice."""

    def __init__(self, path: Path, log_prompts: bool = False, *, max_bytes: int = 10_000_000,
                 keep: int = 3) -> None:
        self.path = Path(path)
        self.log_prompts = log_prompts
        self.max_bytes = max_bytes
        self.keep = max(1, keep)
        self._lock = threading.Lock()
        self._warned = False

    def write(self, record: dict[str, Any], prompt: Any = None) -> None:
        if self.log_prompts and prompt is not None:
            record = {**record, "prompt": prompt}
        line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._rotate_if_full(len(line))
                self._append(line)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot write the audit log %s: %s", self.path, exc)
                self._warned = True

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:  # written by an older Hearth, or copied in
                os.fchmod(fd, MODE)
            os.write(fd, data)
        finally:
            os.close(fd)

    def _rotate_if_full(self, incoming: int) -> None:
        if self.max_bytes <= 0:
            return
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        self.rotated(self.keep).unlink(missing_ok=True)
        for i in range(self.keep - 1, 0, -1):
            try:
                os.replace(self.rotated(i), self.rotated(i + 1))
            except FileNotFoundError:
                pass
        try:
            os.replace(self.path, self.rotated(1))
        except FileNotFoundError:  # another process rotated it first
            pass

    def rotated(self, i: int) -> Path:
        """The i-th newest rotated file (`audit.jsonl.1` is the newest)."""
        return self.path.with_name(f"{self.path.name}.{i}")

    def read(self) -> list[dict[str, Any]]:
        """All records of the current file (for tests and `hearth` tooling)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
