"""(b) The real default model: exported from its GGUF to a Hugging Face directory by transformers, quantized
by the
CLI (`hearth quantize`), then loaded from the store and chatted with."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from assistant.settings import load_settings
from tests.hearth_cli import HEARTH
from tests.threads import THREADS

# Two full builds run in the module fixture; on a shared 2-core machine under load that can pass the default
# 300 s per-test guard, so this module gets a longer one.
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

# Small calibration/evaluation so the test stays within its time budget; the ratios still separate the
# presets.
SMALL = [
    "--quantize-calibration-bytes",
    "6000",
    "--quantize-eval-bytes",
    "5000",
    "--quantize-ctx",
    "256",
    "--quantize-threads",
    str(THREADS),
    "--json",
]


@pytest.fixture(scope="module")
def builds(smol_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory, quiet_env: dict) -> dict:
    home, out = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("out")
    results = {"home": home, "out": out}
    for preset in ("Q4_K_M", "Q4_0"):
        argv = [
            *HEARTH, "quantize",
            str(smol_hf_dir),
            "--preset",
            preset,
            "--out",
            str(out),
            "--home",
            str(home),
            *SMALL,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=quiet_env, timeout=400, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[preset] = json.loads(proc.stdout)
    return results


def test_outputs_and_manifest(builds: dict) -> None:
    m = builds["Q4_K_M"]
    gguf_path = Path(m["gguf"])
    assert gguf_path.name == "SmolLM2-135M-Instruct.Q4_K_M.gguf"
    manifest = json.loads(Path(m["manifest"]).read_text())
    assert manifest["bytes"] == gguf_path.stat().st_size
    assert 4.0 < manifest["bits_per_weight"] < 7.0  # the tied 49k-token embedding stays at 6-8 bits
    assert set(manifest["tensor_types"]) >= {"F32", "Q4_K"}
    assert manifest["source"]["kind"] == "local" and "model.safetensors" in manifest["source"]["files"]
    assert manifest["imatrix"]["tokens"] > 0 and manifest["imatrix"]["tensors"] == 30 * 7
    assert {"converter", "gguf_py", "llama_cpp_python", "llama_cpp"} <= set(manifest["tools"])
    fit = {row["device"]: row for row in manifest["device_fit"]}
    assert fit["Jetson Orin Nano 8GB"]["contexts"]["8192"]["fits"]
    assert not list(Path(builds["out"]).glob(".hearth-quantize-*"))  # scratch space is gone
    from assistant.store import sha256_file

    assert manifest["sha256"] == sha256_file(gguf_path)
    from assistant.gguf_meta import read_gguf

    fields = read_gguf(gguf_path).metadata
    assert fields["quantize.imatrix.chunks_count"] == manifest["imatrix"]["chunks"]
    assert fields["general.quantized_by"].startswith("hearth-quantize")


def test_eval_finite_and_q4km_beats_q4_0(builds: dict) -> None:
    k, q = builds["Q4_K_M"]["eval"], builds["Q4_0"]["eval"]
    for e in (k, q):
        assert all(math.isfinite(e[f]) for f in ("ppl_f16", "ppl", "kld_mean", "same_top"))
        assert e["ppl_f16"] == pytest.approx(k["ppl_f16"])
    assert 0 < k["kld_mean"] < q["kld_mean"]
    assert k["kld_mean"] < 0.2 and k["same_top"] > 0.75
    assert k["ppl"] < q["ppl"]


def test_registered_build_chats(builds: dict) -> None:
    from assistant.assistant import ChatRequest
    from assistant.engine.events import ChatMessage
    from assistant.engine.sampling import SamplingParams
    from assistant.runtime import build_assistant, open_store

    name = builds["Q4_K_M"]["store_name"]
    settings = load_settings(home=builds["home"], model=name, engine={"n_ctx": 512, "n_threads": THREADS})
    stored = open_store(settings).get(name)
    assert stored is not None and stored.source == "quantize"
    assert Path(stored.extra["manifest"]).is_file()
    assistant = build_assistant(settings)
    try:
        reply = assistant.complete(
            ChatRequest(
                messages=[ChatMessage("user", "What is the capital of France?")],
                params=SamplingParams(temperature=0.0, max_tokens=24),
                route="local",
            )
        )
    finally:
        assistant.engine.close()
    assert "Paris" in reply.text
