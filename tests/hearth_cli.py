"""`hearth` as a user runs it, for the tests that start it as a real process (the one helper for that).

The child runs this checkout's code: `python -m assistant.cli` with the repository root as its working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.threads import ENV as THREAD_ENV

REPO = Path(__file__).resolve().parents[1]
HEARTH = (sys.executable, "-m", "assistant.cli")
"""The argv that starts `hearth` (for Popen and pseudo-terminals; `run_hearth` for a command that ends)."""
SMALL_ENGINE = {"HEARTH_ENGINE_N_CTX": "2048"}
"""The engine the chat tests start: a 2048-token context (on the threads `tests.threads` gives every child)."""


def hearth_env(home: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a `hearth` child. With `home`: none of the developer's `HEARTH_*`
    variables but the thread budget (`tests.threads.ENV`), and `HEARTH_HOME=home`; without it the environment is
    kept as is (the store the tests share). `extra` is added last."""
    if home is None:
        env = dict(os.environ)
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")} | THREAD_ENV
        env["HEARTH_HOME"] = str(home)
    return env | dict(extra or {})


def run_hearth(*args: str, home: Path | None = None, env: Mapping[str, str] | None = None,
               stdin: str | bytes | None = None, text: bool = True, timeout: float = 120,
               **popen: object) -> subprocess.CompletedProcess:
    """Run `hearth ARGS` to its end (a deadline of `timeout` s) and capture its output; `env` is added to
    `hearth_env(home)`; `text=False` gives bytes (stdin then takes bytes too)."""
    return subprocess.run([*HEARTH, *args], input=stdin, capture_output=True, text=text, timeout=timeout,
                          env=hearth_env(home, env), cwd=popen.pop("cwd", REPO), check=False, **popen)


def home_with_default_model(root: Path, model_path: Path) -> Path:
    """`root` as a HEARTH_HOME whose store holds the default model (hard-linked, no second download)."""
    from assistant.catalog import load_catalog
    from assistant.settings import DEFAULT_MODEL
    from assistant.store import ModelStore

    ModelStore(root / "models", load_catalog()).register(DEFAULT_MODEL, model_path, "catalog")
    return root
