"""`hearth` as a user runs it: real subprocesses, real model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEARTH = [sys.executable, "-m", "assistant.cli"]


@pytest.fixture(scope="module")
def home(tmp_path_factory, default_model_path) -> Path:
    """A HEARTH_HOME whose store holds the default model (hard-linked, no second download)."""
    from assistant.catalog import load_catalog
    from assistant.store import ModelStore

    root = tmp_path_factory.mktemp("home")
    ModelStore(root / "models", load_catalog()).register("smollm2-135m-instruct", default_model_path, "catalog")
    return root


def hearth(home: Path, *args: str, stdin: bytes | None = None, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(HEARTH_HOME=str(home), HEARTH_ENGINE_N_CTX="2048", HEARTH_ENGINE_N_THREADS="2")
    return subprocess.run(HEARTH + list(args), input=stdin, capture_output=True, timeout=timeout, env=env)


def test_one_shot_prints_only_the_answer(home):
    res = hearth(home, "chat", "-p", "What is the capital of France?", "--max-tokens", "24", "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip()
    assert b"Traceback" not in res.stderr


def test_one_shot_json(home):
    res = hearth(home, "chat", "-p", "Say hello.", "--max-tokens", "16", "--seed", "4", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["text"] and data["route"] == "local"
    assert data["usage"]["prompt_tokens"] > 0 and 0 < data["usage"]["completion_tokens"] <= 16
    assert data["timings"]["ttft_s"] > 0 and data["timings"]["decode_tok_s"] >= 0
    assert data["logprobs"]["n"] > 0 and data["logprobs"]["mean"] <= 0


def test_prompt_from_stdin_and_invalid_utf8(home):
    ok = hearth(home, "chat", "-p", "-", "--max-tokens", "8", "--seed", "1", stdin="Bonjour, ça va ?".encode())
    assert ok.returncode == 0, ok.stderr
    bad = hearth(home, "chat", "-p", "-", "--max-tokens", "8", stdin=b"caf\xe9 \xff\xfe")
    assert bad.returncode != 0
    assert b"not valid UTF-8" in bad.stderr and b"Traceback" not in bad.stderr


def test_missing_model_names_pull(tmp_path):
    res = hearth(tmp_path, "chat", "-p", "hi", "--model", "qwen2.5-7b-instruct")
    assert res.returncode != 0
    assert b"hearth pull qwen2.5-7b-instruct" in res.stderr and b"Traceback" not in res.stderr


def test_not_a_gguf_file_is_refused_before_loading(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 definitely a zip")
    res = hearth(tmp_path, "chat", "-p", "hi", "--model", str(fake))
    assert res.returncode != 0 and b"not a GGUF file" in res.stderr and b"Traceback" not in res.stderr


def test_bad_setting_is_one_line(home):
    res = hearth(home, "chat", "-p", "hi", "--temperature", "9")
    assert res.returncode == 2 and b"sampling.temperature" in res.stderr and b"Traceback" not in res.stderr


def test_repl_commands_and_eof(home):
    script = "/help\nHello!\n/stats\n/system Answer in one word.\nline one \\\nline two\n/reset\n/bogus\n"
    res = hearth(home, "chat", "--max-tokens", "12", "--seed", "2", stdin=script.encode())
    assert res.returncode == 0, res.stderr
    err = res.stderr.decode()
    assert "/reset" in err and "tok/s" in err and "system prompt set" in err and "unknown command /bogus" in err
    assert res.stdout.decode().strip()


def test_models_and_info(home):
    res = hearth(home, "models", "--json")
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert rows["smollm2-135m-instruct"]["installed"] and not rows["qwen2.5-7b-instruct"]["installed"]
    info = json.loads(hearth(home, "info", "smollm2-135m-instruct", "--json").stdout)
    assert info["architecture"] == "llama" and info["quantization"] == "Q4_1" and info["chat_template"] is True
    assert info["context_length"] == 8192 and 5.0 < info["bits_per_weight"] < 6.5
    assert 130e6 < info["parameters"] < 140e6


def test_chat_pulls_the_default_model_on_first_use(tmp_path):
    if shutil.which("pip") is None:
        pytest.skip("pip not on PATH")
    res = hearth(tmp_path, "chat", "-p", "Hi", "--max-tokens", "4", "--seed", "1", timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "models" / "smollm2-135m-instruct" / "record.json").is_file()
    assert b"downloading the default model" in res.stderr


def test_ctrl_c_interrupts_the_reply_but_not_the_session(home):
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(HEARTH_HOME=str(home), HEARTH_ENGINE_N_CTX="2048", HEARTH_ENGINE_N_THREADS="2", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(HEARTH + ["chat", "--max-tokens", "400", "--seed", "3", "--min-p", "0",
                                      "--temperature", "1.0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        proc.stdin.write(b"Write a very long essay about the history of ships.\n")
        proc.stdin.flush()
        first = proc.stdout.read(1)  # the reply has started streaming
        assert first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.stdin.write(b"/stats\n")
        proc.stdin.close()
        proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert b"[interrupted]" in err and b"tok/s" in err  # the session went on to answer /stats


def test_chat_cli_marks_cloud_and_degraded_replies(home, tmp_path):
    """/cloud in the REPL routes to the cloud and says so; with the cloud down the local answer is marked."""
    from escalation import cloud_server as fake  # tests/escalation, importable as a test package

    cloud = fake.FakeCloud().start()
    try:
        env_cloud = ["--cloud-base-url", cloud.url, "--cloud-model", "big"]
        res = hearth(home, "chat", "--max-tokens", "8", "--seed", "1", *env_cloud,
                     stdin=b"/cloud\nWhat is the capital of Peru?\n")
        assert res.returncode == 0, res.stderr
        assert b"[cloud: explicit]" in res.stderr
        assert fake.PREFIX.encode() in res.stdout and len(cloud.received) == 1
        never = hearth(home, "chat", "--max-tokens", "8", "--seed", "1", "--privacy", "never", *env_cloud,
                       stdin=b"/cloud\nWhat is the capital of Peru?\n")
        assert never.returncode == 0, never.stderr
        assert b"[local-degraded:" in never.stderr and len(cloud.received) == 1  # nothing left the device
    finally:
        cloud.stop()
