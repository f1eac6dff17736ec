"""`hearth plan` and `hearth doctor` as a user runs them: real subprocesses; the doctor's facts are checked against
what this machine has (the `machine` fixture), GPU or not."""

from __future__ import annotations

import functools
import json

import pytest

from assistant.devices import GpuInfo, load_profiles
from tests.hearth_cli import run_hearth

PLAN_FIELDS = {"fits", "weights_bytes", "kv_bytes", "total_bytes", "max_ctx", "decode_tok_s_bound"}


hearth = functools.partial(run_hearth, env={"HEARTH_DEVICE_HOST_BANDWIDTH_GBS": "12.5", "COLUMNS": "120"},
                           timeout=60)


def test_plan_json_of_an_undownloaded_catalog_model(tmp_path):
    r = hearth("plan", "llama-3.1-8b-instruct", "--device", "orin-nano-8gb", "--ctx", "8192", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert PLAN_FIELDS <= data.keys()
    # 4.9 GB of weights + 1 GiB of f16 KV + buffers do not fit 8 GB less the OS; a shorter context does
    assert data["fits"] is False and 2048 <= data["max_ctx"] < 8192
    assert data["kv_bytes"] == 1024**3
    assert data["model_source"] == "catalog"
    assert 10 < data["decode_tok_s_bound"] < 68e9 / 4.3e9


def test_plan_installed_model_with_kv_type(model_home):
    r = hearth("plan", "smollm2-135m-instruct", "--device", "l4", "--ctx", "2048", "--kv-type", "q8_0", "--json",
               home=model_home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model_source"] == "gguf" and data["fits"] and data["kv_type"] == "q8_0"
    assert data["kv_bytes"] == 30 * 2048 * 2 * 192 * 34 // 32
    assert data["total_bytes"] == (data["weights_bytes"] + data["kv_bytes"] + data["compute_bytes"]
                                   + data["overhead_bytes"])


def test_plan_all_devices_table_and_json(tmp_path):
    r = hearth("plan", "qwen2.5-7b-instruct", "--all-devices", "--ctx", "8192", home=tmp_path)
    assert r.returncode == 0, r.stderr
    for pid in load_profiles():
        assert pid in r.stdout
    assert "host-cpu" in r.stdout
    r = hearth("plan", "qwen2.5-7b-instruct", "--all-devices", "--json", home=tmp_path)
    rows = json.loads(r.stdout)
    assert len(rows) == len(load_profiles()) + 1 and all(PLAN_FIELDS <= row.keys() for row in rows)


@pytest.mark.parametrize("args,message", [
    (["--kv-type", "q5_1"], "kv-type"),
    (["--kv-type", "q8_0", "--no-flash-attn"], "flash attention"),
    (["--device", "tpu"], "unknown device profile"),
])
def test_plan_errors_are_one_line(tmp_path, monkeypatch, args, message):
    from typer.testing import CliRunner

    from assistant.cli.app import app

    monkeypatch.setenv("HEARTH_HOME", str(tmp_path))
    r = CliRunner().invoke(app, ["plan", "qwen2.5-7b-instruct", *args])
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr


def _build_line(machine) -> str:
    return "llama.cpp GPU offload  " + ("yes" if machine.llama_gpu_offload else "no (CPU-only build)")


def test_doctor_on_a_machine_without_a_gpu(tmp_path, machine):
    if machine.has_gpu:
        pytest.skip(f"this machine has a GPU ({', '.join(machine.gpus) or 'Jetson'}): see the GPU doctor test")
    r = hearth("doctor", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["llama_cpp"]["importable"] and data["llama_cpp"]["gpu_offload"] is machine.llama_gpu_offload
    assert data["gpus"] == [] and data["jetson"] is None
    assert data["profile"]["id"] == "host-cpu" and data["profile"]["bandwidth_gbs"] == 12.5
    assert data["packages"]["llama_cpp_python"]
    assert not any("CPU-only" in w for w in data["warnings"])
    text = hearth("doctor", home=tmp_path)
    assert text.returncode == 0
    assert _build_line(machine) in text.stdout
    assert "device profile         host-cpu" in text.stdout


def test_doctor_on_a_jetson(tmp_path, machine):
    if not machine.jetson:
        pytest.skip("not a Jetson (no /etc/nv_tegra_release)")
    data = json.loads(hearth("doctor", "--json", home=tmp_path).stdout)
    assert data["jetson"]["model"] and data["profile"]["kind"] == "jetson" and data["profile"]["unified_memory"]
    assert any("CPU-only build" in w for w in data["warnings"]) is not machine.llama_gpu_offload


def test_doctor_on_a_machine_with_an_nvidia_gpu(tmp_path, machine):
    if not machine.gpus or machine.jetson:
        pytest.skip("no discrete NVIDIA GPU here (nvidia-smi lists none, or this is a Jetson)")
    if not machine.nvml:
        pytest.skip("nvidia-ml-py is not installed (the `devices` extra), so Hearth cannot see discrete GPUs")
    r = hearth("doctor", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [g["name"] for g in data["gpus"]] == list(machine.gpus)
    assert data["llama_cpp"]["gpu_offload"] is machine.llama_gpu_offload
    profile = data["profile"]
    assert profile["kind"] == "gpu" and not profile["unified_memory"]
    assert profile["memory_bytes"] == data["gpus"][0]["memory_total"]
    assert profile["cuda_arch"] == data["gpus"][0]["compute_capability"].replace(".", "")
    # the loud warning appears exactly when the build cannot use the GPU that is there
    assert any("CPU-only build" in w for w in data["warnings"]) is not machine.llama_gpu_offload
    text = hearth("doctor", home=tmp_path)
    assert text.returncode == 0 and _build_line(machine) in text.stdout


def test_doctor_warns_loudly_when_a_gpu_meets_a_cpu_only_build(tmp_path, monkeypatch):
    # Stand in an L4 for NVML and a CPU-only build for llama.cpp, whatever this machine has.
    from assistant.cli import doctor
    from assistant.settings import load_settings

    build = {**doctor.llama_build(), "gpu_offload": False}
    monkeypatch.setattr(doctor, "llama_build", lambda: build)

    l4 = GpuInfo(name="NVIDIA L4", memory_total=23_034_000_000, memory_free=22_000_000_000,
                 compute_capability="8.9", driver="580.1")
    monkeypatch.setattr(doctor, "nvml_gpus", lambda: [l4])
    monkeypatch.setattr("assistant.devices.detection.nvml_gpus", lambda: [l4])
    report = doctor.collect(load_settings(home=tmp_path, device={"host_bandwidth_gbs": 10.0}))
    assert report["profile"]["id"] == "l4"
    assert any("CPU-only build" in w and "install-cuda.sh" in w for w in report["warnings"])
