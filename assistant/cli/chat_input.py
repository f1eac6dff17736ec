"""What the chat REPL reads and writes besides the model: typed lines (with line editing and a persistent history
in a terminal) and saved conversations (`/save`, `/load`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError

HISTORY_FILE = "chat_history"
"""Under `$HEARTH_HOME`: the lines typed in `hearth chat`, one entry per line (mode 0600)."""


def private_file(path: Path) -> Path:
    """Make sure `path` exists and only its owner can read it (0600), creating its directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)
    return path


class LineReader:
    """Reads the user's lines: prompt_toolkit in a terminal (Emacs-style line editing, Up/Down and Ctrl-R through a
    history kept across sessions), plain `input()` when stdin or stdout is not a terminal (scripts, pipes, tests).

    Both raise EOFError on Ctrl-D and KeyboardInterrupt on Ctrl-C, like `input()`."""

    def __init__(self, home: Path) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._session: Any = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            history = private_file(Path(home) / HISTORY_FILE)
            self._session = PromptSession(history=FileHistory(str(history)))

    def read(self, prompt: str) -> str:
        if self._session is None:
            return input(prompt if sys.stdin.isatty() else "")
        return self._session.prompt(prompt)


def save_conversation(data: dict[str, Any], target: str) -> Path:
    """Write a conversation as JSON to `target` (`~` expanded; created 0600: it is the user's words)."""
    if not target:
        raise InvalidRequestError("usage: /save FILE")
    path = Path(target).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_conversation(source: str) -> Any:
    """The JSON data of a saved conversation file (InvalidRequestError, one line, when unreadable or not JSON)."""
    if not source:
        raise InvalidRequestError("usage: /load FILE")
    path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequestError(f"{path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
