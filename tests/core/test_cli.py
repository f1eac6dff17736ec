"""`hearth` as a user runs it: real subprocesses, real model."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.hearth_cli import HEARTH, SMALL_ENGINE, hearth_env, run_hearth

hearth = functools.partial(run_hearth, env=SMALL_ENGINE, text=False)


@pytest.fixture(scope="module")
def home(store_home: Path) -> Path:
    return store_home


def test_one_shot_prints_only_the_answer(home):
    res = hearth("chat", "-p", "What is the capital of France?", "--max-tokens", "24", "--seed", "1", home=home)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip()
    assert b"Traceback" not in res.stderr


def test_one_shot_json(home):
    res = hearth("chat", "-p", "Say hello.", "--max-tokens", "16", "--seed", "4", "--json", home=home)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["text"] and data["route"] == "local"
    assert data["usage"]["prompt_tokens"] > 0 and 0 < data["usage"]["completion_tokens"] <= 16
    assert data["timings"]["ttft_s"] > 0 and data["timings"]["decode_tok_s"] >= 0
    assert data["logprobs"]["n"] > 0 and data["logprobs"]["mean"] <= 0


def test_prompt_from_stdin_and_invalid_utf8(home):
    ok = hearth("chat", "-p", "-", "--max-tokens", "8", "--seed", "1", stdin="Bonjour, ça va ?".encode(), home=home)
    assert ok.returncode == 0, ok.stderr
    bad = hearth("chat", "-p", "-", "--max-tokens", "8", stdin=b"caf\xe9 \xff\xfe", home=home)
    assert bad.returncode != 0
    assert b"not valid UTF-8" in bad.stderr and b"Traceback" not in bad.stderr


def test_undecodable_prompt_arguments_are_one_clear_line(home):
    """Bytes that are not UTF-8 in argv reach Python as lone surrogates (PEP 383): refused by name, no trace."""
    env = hearth_env(home)
    for args in ([b"-p", b"caf\xe9 \xed\xa0\x80"], [b"-p", b"hi", b"--system", b"\xff"]):
        res = subprocess.run([os.fsencode(a) for a in HEARTH] + [b"chat", *args], capture_output=True, env=env,
                             timeout=120, check=False)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.decode(errors="replace").strip().splitlines()
        assert len(lines) == 1 and "lone surrogate" in lines[0] and "Traceback" not in lines[0], lines
    stdin = hearth("chat", "-p", "-", stdin=b"\xed\xa0\x80", home=home)  # a surrogate's bytes: not UTF-8
    assert stdin.returncode == 2 and b"not valid UTF-8" in stdin.stderr and b"Traceback" not in stdin.stderr


def test_missing_model_names_pull(tmp_path):
    res = hearth("chat", "-p", "hi", "--model", "qwen2.5-7b-instruct", home=tmp_path)
    assert res.returncode != 0
    assert b"hearth pull qwen2.5-7b-instruct" in res.stderr and b"Traceback" not in res.stderr


def test_not_a_gguf_file_is_refused_before_loading(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 definitely a zip")
    res = hearth("chat", "-p", "hi", "--model", str(fake), home=tmp_path)
    assert res.returncode != 0 and b"not a GGUF file" in res.stderr and b"Traceback" not in res.stderr


def test_bad_setting_is_one_line(home):
    res = hearth("chat", "-p", "hi", "--temperature", "9", home=home)
    assert res.returncode == 2 and b"sampling.temperature" in res.stderr and b"Traceback" not in res.stderr


def test_a_chat_template_file_that_cannot_be_read_or_compiled_is_one_line(home, tmp_path):
    res = hearth("chat", "-p", "hi", "--chat-template-file", str(tmp_path / "missing.jinja"), home=home)
    assert res.returncode != 0 and b"engine.chat_template_file" in res.stderr and b"Traceback" not in res.stderr
    assert len(res.stderr.decode().strip().splitlines()) == 1, res.stderr
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for m in messages %}{{ m.content }")
    res = hearth("chat", "-p", "hi", "--chat-template-file", str(broken), home=home)
    assert res.returncode != 0 and b"chat template does not compile" in res.stderr and b"Traceback" not in res.stderr


def test_repl_commands_and_eof(home):
    script = "/help\nHello!\n/stats\n/system Answer in one word.\nline one \\\nline two\n/reset\n/bogus\n"
    res = hearth("chat", "--max-tokens", "12", "--seed", "2", stdin=script.encode(), home=home)
    assert res.returncode == 0, res.stderr
    err = res.stderr.decode()
    assert "/reset" in err and "tok/s" in err and "system prompt set" in err and "unknown command /bogus" in err
    assert res.stdout.decode().strip()


def test_models_and_info(home):
    res = hearth("models", "--json", home=home)
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert rows["smollm2-135m-instruct"]["installed"] and not rows["qwen2.5-7b-instruct"]["installed"]
    info = json.loads(hearth("info", "smollm2-135m-instruct", "--json", home=home).stdout)
    assert info["architecture"] == "llama" and info["quantization"] == "Q4_1" and info["chat_template"] is True
    assert info["context_length"] == 8192 and 5.0 < info["bits_per_weight"] < 6.5
    assert 130e6 < info["parameters"] < 140e6


def test_chat_pulls_the_default_model_on_first_use(tmp_path):
    if shutil.which("pip") is None:
        pytest.skip("pip not on PATH")
    res = hearth("chat", "-p", "Hi", "--max-tokens", "4", "--seed", "1", timeout=300, home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "models" / "smollm2-135m-instruct" / "record.json").is_file()
    assert b"downloading the default model" in res.stderr


def test_ctrl_c_interrupts_the_reply_but_not_the_session(home):
    import signal
    import time

    env = hearth_env(home, SMALL_ENGINE | {"PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([*HEARTH, "chat", "--max-tokens", "400", "--seed", "3", "--min-p", "0",
                             "--temperature", "1.0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            # A suite started in the background (`cmd &`) inherits SIGINT ignored, and Python then
                            # installs no KeyboardInterrupt handler: give the child the default disposition.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
        res = hearth("chat", "--max-tokens", "8", "--seed", "1", *env_cloud,
                     stdin=b"/cloud\nWhat is the capital of Peru?\n", home=home)
        assert res.returncode == 0, res.stderr
        assert b"[cloud: explicit]" in res.stderr
        assert fake.PREFIX.encode() in res.stdout and len(cloud.received) == 1
        never = hearth("chat", "--max-tokens", "8", "--seed", "1", "--privacy", "never", *env_cloud,
                       stdin=b"/cloud\nWhat is the capital of Peru?\n", home=home)
        assert never.returncode == 0, never.stderr
        assert b"[local-degraded:" in never.stderr and len(cloud.received) == 1  # nothing left the device
    finally:
        cloud.stop()


def test_rm_removes_an_installed_model(tmp_path, default_model_path):
    from assistant.catalog import load_catalog
    from assistant.store import ModelStore

    ModelStore(tmp_path / "models", load_catalog()).register("copy", default_model_path, "test")
    res = hearth("rm", "copy", home=tmp_path)
    assert res.returncode == 0 and b"removed copy" in res.stderr, res.stderr
    assert not (tmp_path / "models" / "copy").exists()
    listed = json.loads(hearth("models", "--json", home=tmp_path).stdout)
    assert "copy" not in [m["id"] for m in listed]
    for name in ("copy", "..", "smollm2-135m-instruct"):  # gone, not a name, never pulled here
        again = hearth("rm", name, home=tmp_path)
        assert again.returncode == 3 and b"is installed" in again.stderr and b"Traceback" not in again.stderr
    assert (tmp_path / "models").is_dir()
