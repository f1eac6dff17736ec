"""The audit log: one JSON line per request under $HEARTH_HOME (route, reasons, signal values, redaction
count, latencies). Prompt text appears only when `log_prompts` is set; the API key never does."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("hearth.audit")


class AuditLog:
    """Appends records to a JSON-lines file; a failing disk is logged once and never fails a request."""

    def __init__(self, path: Path, log_prompts: bool = False) -> None:
        self.path = Path(path)
        self.log_prompts = log_prompts
        self._lock = threading.Lock()
        self._warned = False

    def write(self, record: dict[str, Any], prompt: Any = None) -> None:
        if self.log_prompts and prompt is not None:
            record = {**record, "prompt": prompt}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot write the audit log %s: %s", self.path, exc)
                self._warned = True

    def read(self) -> list[dict[str, Any]]:
        """All records (for tests and `hearth` tooling)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
