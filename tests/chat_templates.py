"""Real chat templates of tool-aware models, for the tool-format tests: llama.cpp's own test fixtures
(`models/templates/*.jinja`, the templates of the models' Hugging Face repositories), taken from the source
distribution of the llama-cpp-python version installed (PyPI; pip's cache serves it again), once per test store."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

FILES = {
    "qwen2.5": "Qwen-Qwen2.5-7B-Instruct.jinja",
    "llama3.1": "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "mistral-nemo": "mistralai-Mistral-Nemo-Instruct-2407.jinja",
}


def template_dir(home: Path) -> Path:
    """A folder holding `FILES` (fetched the first time: one `pip download` of the sdist, ~30 s from pip's
    cache). Where pip cannot fetch it the test is skipped, saying why; in CI (`CI` set), where the registry is
    always reachable, it fails instead."""
    wanted = version("llama_cpp_python")
    out = home / "test-data" / f"llama-cpp-python-{wanted}-templates"
    if all((out / name).is_file() for name in FILES.values()):
        return out
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                              "--no-deps", "--no-binary", ":all:", "-d", tmp, f"llama-cpp-python=={wanted}"],
                             capture_output=True, text=True, timeout=900, check=False)
        if got.returncode != 0:
            why = f"pip could not fetch llama-cpp-python=={wanted}'s sdist: {got.stderr.strip()[-300:]}"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
        [sdist] = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if name in FILES.values() and "/vendor/llama.cpp/models/templates/" in member.name:
                    data = tar.extractfile(member)
                    assert data is not None
                    part = out / f"{name}.{member.size}.part"  # another worker may be writing it too
                    part.write_bytes(data.read())
                    part.replace(out / name)
    missing = [n for n in FILES.values() if not (out / n).is_file()]
    assert not missing, f"not in llama-cpp-python {wanted}'s sdist: {missing}"
    return out


def read_template(home: Path, model: str) -> str:
    """The chat template of `model` (a key of `FILES`)."""
    return (template_dir(home) / FILES[model]).read_text(encoding="utf-8")
