"""Where the Hugging Face model comes from: a local directory, or a hub repo id (via huggingface_hub)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import DownloadError, ModelFormatError, ModelNotFoundError
from assistant.store import sha256_file

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"]
# Original-format duplicates (Meta `original/`, Mistral `consolidated.safetensors`) would double the download.
_IGNORE = ["original/*", "consolidated*"]
_INPUT_GLOBS = (
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "added_tokens.json",
    "special_tokens_map.json",
)


@dataclass
class ModelSource:
    """A resolved model directory and what it is."""

    path: Path
    """Local directory holding config.json, weights and tokenizer."""
    kind: str
    """`local` or `hub`."""
    repo: str | None = None
    """Hub repo id (hub sources)."""
    revision: str | None = None
    """Hub commit hash that was downloaded (hub sources)."""
    files: dict[str, str] = field(default_factory=dict)
    """SHA-256 of each input file, by name."""

    @property
    def name(self) -> str:
        return (self.repo.split("/")[-1] if self.repo else self.path.resolve().name) or "model"

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "repo": self.repo,
            "revision": self.revision,
            "files": self.files,
        }


def resolve_source(source: str, revision: str | None = None, cache_dir: Path | None = None) -> ModelSource:
    """A local directory as is; `owner/name` downloaded from the hub (DownloadError when impossible)."""
    local = Path(source).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelFormatError(
                f"{source} is a file; SOURCE must be a Hugging Face model directory or repo id"
            )
        if not (local / "config.json").is_file():
            raise ModelFormatError(
                f"{local}: config.json not found (is this a Hugging Face model directory?)"
            )
        return ModelSource(local, "local")
    if not _REPO_ID.match(source):
        raise ModelNotFoundError(
            f"no such directory: {source} (SOURCE is a local model directory or a hub repo "
            "id like `HuggingFaceTB/SmolLM2-135M-Instruct`)",
            param="source",
        )
    path, commit = _download(source, revision, cache_dir)
    return ModelSource(path, "hub", repo=source, revision=commit)


def _download(repo: str, revision: str | None, cache_dir: Path | None) -> tuple[Path, str | None]:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise DownloadError("downloading from the hub needs `huggingface_hub`") from None
    try:
        path = Path(
            snapshot_download(
                repo,
                revision=revision,
                cache_dir=cache_dir,
                allow_patterns=_PATTERNS,
                ignore_patterns=_IGNORE,
            )
        )
    except GatedRepoError:
        raise DownloadError(
            f"{repo} is gated: accept its license on the hub and log in (`hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        raise DownloadError(f"{repo} was not found on the hub (or is private)") from None
    except RevisionNotFoundError:
        raise DownloadError(f"{repo} has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise DownloadError(
            f"cannot download {repo}: the hub is unreachable (offline?) and it is not in the local "
            "cache; download it elsewhere and pass the directory instead"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise DownloadError(f"cannot download {repo}: {exc}") from None
    return path, path.name if len(path.name) == 40 else revision


def input_files(model_dir: Path) -> list[Path]:
    seen: dict[str, Path] = {}
    for pattern in _INPUT_GLOBS:
        for f in sorted(model_dir.glob(pattern)):
            if f.is_file():
                seen[f.name] = f
    return list(seen.values())


def checksum_inputs(src: ModelSource, progress: Callable[[str, int, int | None], None] | None = None) -> None:
    """Fill `src.files` with the SHA-256 of every input file (one progress phase over all bytes)."""
    files = input_files(src.path)
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        base = done

        def step(_phase: str, n: int, _total: int | None, base: int = base) -> None:
            if progress:
                progress("checksum", base + n, total)

        src.files[f.name] = sha256_file(f, step)
        done += f.stat().st_size
