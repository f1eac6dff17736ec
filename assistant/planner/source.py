"""Find a model's shape by name: the GGUF header when the file is here, else the catalog's numbers."""

from __future__ import annotations

from pathlib import Path

from ..catalog import Catalog
from ..errors import ModelNotFoundError
from ..gguf_meta import read_gguf
from ..store import ModelStore
from .shape import ModelShape, shape_from_catalog, shape_from_gguf


def load_shape(model: str, store: ModelStore, catalog: Catalog | None = None) -> ModelShape:
    """Shape of a catalog id, store name or GGUF path; a catalog model that is not downloaded is estimated."""
    catalog = catalog or store.catalog
    try:
        name, path = store.resolve(model)
    except ModelNotFoundError:
        if model in catalog:
            return shape_from_catalog(catalog.get(model))
        raise
    return shape_from_gguf(read_gguf(Path(path)), name=name)
