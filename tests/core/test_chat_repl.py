"""The chat REPL as a shell: /save and /load of a conversation (piped stdin), and line editing with a persistent
history in a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hearth_cli import HEARTH, REPO, SMALL_ENGINE, hearth_env, run_hearth


@pytest.fixture(scope="module")
def home(store_home: Path) -> Path:
    return store_home


def chat(home: Path, script: str) -> subprocess.CompletedProcess:
    return run_hearth("chat", "--max-tokens", "8", "--seed", "2", stdin=script.encode(), home=home,
                      env=SMALL_ENGINE, text=False, timeout=180)


def test_save_and_load_a_conversation(home, tmp_path):
    saved, continued = tmp_path / "talk.json", tmp_path / "more.json"
    first = chat(home, f"/system Answer briefly.\nHello!\n/save {saved}\n")
    assert first.returncode == 0, first.stderr
    assert f"saved 2 messages to {saved}" in first.stderr.decode()
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["format"] == "hearth.chat/1" and data["system"] == "Answer briefly."
    assert [t["role"] for t in data["turns"]] == ["user", "assistant"] and data["turns"][0]["content"] == "Hello!"
    assert data["turns"][1]["content"].strip()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # the user's words

    bad_json, wrong = tmp_path / "bad.json", tmp_path / "wrong.json"
    bad_json.write_text("{nope", encoding="utf-8")
    wrong.write_text('{"turns": [{"role": "tool", "content": "x"}]}', encoding="utf-8")
    script = (f"/load {tmp_path / 'missing.json'}\n/load {bad_json}\n/load {wrong}\n/load\n/load {saved}\n"
              f"And again?\n/save {continued}\n")
    second = chat(home, script)
    assert second.returncode == 0, second.stderr
    err = second.stderr.decode()
    assert "cannot read" in err and "No such file" in err
    assert "is not valid JSON (line 1" in err
    assert 'turns[0] must be {"role": "user" or "assistant"' in err
    assert "usage: /load FILE" in err
    assert f"loaded 2 messages (with a system prompt) from {saved}" in err
    more = json.loads(continued.read_text(encoding="utf-8"))
    assert more["system"] == "Answer briefly." and more["turns"][:2] == data["turns"]  # it went on from there
    assert [t["content"] for t in more["turns"][2:3]] == ["And again?"] and len(more["turns"]) == 4


class Terminal:
    """`hearth chat` on a pseudo-terminal: keys in, screen text out."""

    def __init__(self, home: Path) -> None:
        self.master, slave = pty.openpty()
        env = hearth_env(home, SMALL_ENGINE | {"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120",
                                               "LINES": "40"})
        self.proc = subprocess.Popen([*HEARTH, "chat", "--max-tokens", "4", "--seed", "1"], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, cwd=REPO, close_fds=True)
        os.close(slave)
        self.screen = ""

    def _read(self, timeout: float) -> bool:
        """Read what the terminal shows (False once the child closed it)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.screen += os.read(self.master, 65536).decode("utf-8", "replace")
            except OSError:  # EIO: the child closed the terminal
                return False
        return True

    def wait_for(self, text: str, deadline_s: float = 120.0) -> None:
        """Wait until `text` is shown, and consume the screen up to it."""
        end = time.monotonic() + deadline_s
        while text not in self.screen:
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.screen[-2000:]}")
            if not self._read(0.2):
                raise AssertionError(f"hearth chat ended early:\n{self.screen[-2000:]}")
        self.screen = self.screen[self.screen.index(text) + len(text):]

    def wait_exit(self, deadline_s: float = 30.0) -> int:
        """Keep reading (a child blocked writing to a full terminal never exits) until the child exits."""
        end = time.monotonic() + deadline_s
        while self.proc.poll() is None and time.monotonic() < end:
            if not self._read(0.2):
                break
        return self.proc.wait(max(0.1, end - time.monotonic()))

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_line_editing_and_history_in_a_terminal(home):
    history = home / "chat_history"
    history.unlink(missing_ok=True)
    term = Terminal(home)
    try:
        term.wait_for(">>>")
        # Type "/rset", go back three characters, insert the missing "e": line editing.
        term.type("/rset\x1b[D\x1b[D\x1b[De\r")
        term.wait_for("conversation reset")
        term.wait_for(">>>")
        term.type("/stats\r")
        term.wait_for("route -")
        term.wait_for(">>>")
        # Up twice recalls "/reset" from the history.
        term.type("\x1b[A\x1b[A\r")
        term.wait_for("conversation reset")
        term.wait_for(">>>")
        term.type("\x04")  # Ctrl-D leaves
        assert term.wait_exit() == 0
    finally:
        term.close()
    assert history.read_text(encoding="utf-8").count("+/reset") == 2 and "+/stats" in history.read_text()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600

    # A new session starts with the earlier lines: Up recalls the last one.
    term = Terminal(home)
    try:
        term.wait_for(">>>")
        term.type("\x1b[A\r")
        term.wait_for("conversation reset")
    finally:
        term.close()
