"""(c) Bad input: missing files, unsupported architectures, corrupt weights, a full disk. Every failure is one
clear
line and an exit code, and nothing half-written is left in the output directory or registered in the store."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from assistant.errors import QuantizeError
from assistant.settings import load_settings
from tests.hearth_cli import HEARTH

QUANTIZE = [*HEARTH, "quantize"]
FAST = [
    "--quantize-calibration-bytes",
    "3000",
    "--quantize-eval-bytes",
    "2000",
    "--quantize-ctx",
    "64",
    "--quantize-threads",
    "1",
]


def run(
    args: list[str], env: dict, home: Path, limit_bytes: int | None = None
) -> subprocess.CompletedProcess:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [*QUANTIZE, *args, "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        preexec_fn=limit if limit_bytes else None,
    )


def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _assert_clean(out: Path, home: Path) -> None:
    leftovers = [p.name for p in out.iterdir()] if out.exists() else []
    assert leftovers == []
    assert not list((home / "models").glob("*/record.json")) if (home / "models").exists() else True


def test_missing_directory(tmp_path: Path, quiet_env: dict) -> None:
    res = run([str(tmp_path / "nope"), "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home")
    assert res.returncode == 3
    assert "no such directory" in res.stderr and "Traceback" not in res.stderr


def test_missing_config_and_weights(tmp_path: Path, quiet_env: dict, tiny_model) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run([str(empty), "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home")
    assert res.returncode == 3 and "config.json not found" in res.stderr
    model = _copy_model(tiny_model("llama-spm"), tmp_path / "noweights")
    (model / "model.safetensors").unlink()
    res = run([str(model), "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home")
    assert res.returncode == 3 and "no *.safetensors" in res.stderr
    _assert_clean(tmp_path / "out", tmp_path / "home")


def test_unsupported_architecture_lists_supported(tmp_path: Path, quiet_env: dict, tiny_model) -> None:
    model = _copy_model(tiny_model("llama-spm"), tmp_path / "gpt2")
    config = json.loads((model / "config.json").read_text())
    config.update(architectures=["GPT2LMHeadModel"], model_type="gpt2")
    (model / "config.json").write_text(json.dumps(config))
    res = run([str(model), "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home")
    assert res.returncode == 3
    assert "unsupported architecture GPT2LMHeadModel" in res.stderr
    for supported in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"):
        assert supported in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage-header"])
def test_corrupt_safetensors(tmp_path: Path, quiet_env: dict, tiny_model, damage: str) -> None:
    model = _copy_model(tiny_model("llama-spm"), tmp_path / "corrupt")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        data[: len(data) // 2]
        if damage == "truncated"
        else b"\x10\x00\x00\x00\x00\x00\x00\x00{not json" + data[18:]
    )
    res = run([str(model), "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home")
    assert res.returncode == 3, res.stderr
    assert ("truncated or corrupt" if damage == "truncated" else "corrupt safetensors header") in res.stderr
    _assert_clean(tmp_path / "out", tmp_path / "home")


def test_disk_full_leaves_nothing_registered(tmp_path: Path, quiet_env: dict, tiny_model) -> None:
    model = tiny_model("llama-spm")
    out, home = tmp_path / "out", tmp_path / "home"
    res = run([str(model), "--preset", "Q4_0", "--out", str(out), *FAST], quiet_env, home, limit_bytes=64_000)
    assert res.returncode == 7, res.stderr
    assert "not enough disk space" in res.stderr and "Traceback" not in res.stderr
    _assert_clean(out, home)
    # The same command with room to write succeeds, so the failure above was the disk and nothing else.
    ok = run([str(model), "--preset", "Q4_0", "--out", str(out), *FAST, "--json"], quiet_env, home)
    assert ok.returncode == 0, ok.stderr
    built = json.loads(ok.stdout)
    assert sorted(p.name for p in out.iterdir()) == [
        "llama-spm0.Q4_0.gguf",
        "llama-spm0.Q4_0.manifest.json",
        "llama-spm0.imatrix.npz",
    ]
    assert (home / "models" / built["store_name"] / "record.json").is_file()


def test_preflight_refuses_when_disk_is_too_small(tmp_path: Path, tiny_model, monkeypatch) -> None:
    from quantize import pipeline

    real = shutil.disk_usage
    monkeypatch.setattr(pipeline.shutil, "disk_usage", lambda p: real(p)._replace(free=10_000))
    settings = load_settings(home=tmp_path / "home")
    with pytest.raises(QuantizeError, match="not enough disk space"):
        pipeline.build(str(tiny_model("llama-spm")), "Q4_0", tmp_path / "out", settings)
    _assert_clean(tmp_path / "out", tmp_path / "home")


def test_bad_preset_and_offline_hub(tmp_path: Path, quiet_env: dict, tiny_model) -> None:
    res = run(
        [str(tiny_model("llama-spm")), "--preset", "Q3_K_XL", "--out", str(tmp_path / "out")],
        quiet_env,
        tmp_path / "home",
    )
    assert res.returncode == 2 and "Q4_K_M" in res.stderr
    res = run(
        [
            str(tiny_model("llama-spm")),
            "--preset",
            "IQ4_XS",
            "--no-quantize-imatrix",
            "--out",
            str(tmp_path / "out"),
        ],
        quiet_env,
        tmp_path / "home",
    )
    assert res.returncode != 0 and "needs an importance matrix" in res.stderr
    res = run(
        ["HuggingFaceTB/SmolLM2-135M-Instruct", "--out", str(tmp_path / "out")], quiet_env, tmp_path / "home"
    )
    assert res.returncode == 4 and "offline" in res.stderr
