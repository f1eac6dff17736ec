"""Streaming Hugging Face -> GGUF converter (F32/F16/BF16).

Tensor infos and metadata are written first; then each tensor is read from the memory-mapped checkpoint,
transformed
(name map, q/k permutation, dtype) and appended, so peak memory is a couple of tensors, never the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from assistant.errors import ModelFormatError
from assistant.progress import Progress

from . import CONVERTER_NAME, __version__
from .archs import (
    ArchSpec,
    HParams,
    llama3_rope_factors,
    permute_rows,
    read_hparams,
    resolve_arch,
    write_hparams,
)
from .vocab import Vocab, load_vocab
from .weights import Checkpoint

OUTTYPES = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
_SKIP_SUFFIXES = ("rotary_emb.inv_freq",)


@dataclass(frozen=True, slots=True)
class PlannedTensor:
    """One output tensor: where it comes from and how it is written."""

    gguf_name: str
    """Name in the GGUF file."""
    source: str | None
    """Checkpoint tensor name (None for tensors computed here, like rope_freqs)."""
    shape: tuple[int, ...]
    """Shape in PyTorch order."""
    qtype: gguf.GGMLQuantizationType
    """Element type written."""
    permute_heads: int
    """Heads for the q/k permutation, 0 for none."""


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What the converter produced."""

    path: Path
    """The GGUF file."""
    arch: str
    """GGUF architecture name."""
    hparams: HParams
    """Hyperparameters written."""
    vocab: Vocab
    """The exported tokenizer."""
    n_params: int
    """Elements over all tensors."""


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelFormatError(
            f"{model_dir}: config.json not found (is this a Hugging Face model directory?)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{path}: expected a JSON object")
    return config


def plan_tensors(ckpt: Checkpoint, spec: ArchSpec, hp: HParams, outtype: str) -> list[PlannedTensor]:
    """Map every checkpoint tensor to its GGUF name, type and transform; unknown tensors are an error."""
    name_map = gguf.get_tensor_name_map(spec.gguf_arch, hp.n_layer)
    qtype = OUTTYPES[outtype][0]
    has_embed = "model.embed_tokens.weight" in ckpt
    plan: list[PlannedTensor] = []
    for name in ckpt.names():
        if name.endswith(_SKIP_SUFFIXES):
            continue
        if name == "lm_head.weight" and hp.tied_embeddings:
            if has_embed:
                continue
            target = "token_embd.weight"  # a tied checkpoint saved under the head's name only
        else:
            target = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ModelFormatError(
                f"tensor {name} has no GGUF counterpart for {spec.hf_name}; the checkpoint does "
                "not match its config"
            )
        shape = ckpt.tensors[name].shape
        heads = 0
        if spec.permute_qk and (".attn_q." in target or ".attn_k." in target):
            heads = hp.n_head if ".attn_q." in target else hp.n_head_kv
        plan.append(
            PlannedTensor(
                target, name, shape, gguf.GGMLQuantizationType.F32 if len(shape) == 1 else qtype, heads
            )
        )
    if not any(p.gguf_name == "token_embd.weight" for p in plan):
        raise ModelFormatError("the checkpoint has no token embedding (model.embed_tokens.weight)")
    factors = llama3_rope_factors(hp)
    if factors is not None:
        plan.append(
            PlannedTensor(
                gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight",
                None,
                factors.shape,
                gguf.GGMLQuantizationType.F32,
                0,
            )
        )
    return plan


def _encode(data: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    if qtype == gguf.GGMLQuantizationType.F32:
        return np.ascontiguousarray(data, dtype=np.float32)
    if qtype == gguf.GGMLQuantizationType.F16:
        return np.ascontiguousarray(data, dtype=np.float16)
    bits = np.ascontiguousarray(data, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return rounded.astype(np.uint16)


def _nbytes(p: PlannedTensor) -> int:
    n = int(np.prod(p.shape, dtype=np.int64))
    return n * (4 if p.qtype == gguf.GGMLQuantizationType.F32 else 2)


def convert(
    model_dir: Path,
    out_path: Path,
    outtype: str = "f16",
    name: str | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Write `model_dir` (a Hugging Face checkpoint) as a GGUF file at `out_path`."""
    config = read_config(model_dir)
    spec = resolve_arch(config)
    hp = read_hparams(config)
    vocab = load_vocab(model_dir, hp.n_vocab, config)
    ckpt = Checkpoint(model_dir)
    try:
        plan = plan_tensors(ckpt, spec, hp, outtype)
        arch = gguf.MODEL_ARCH_NAMES[spec.gguf_arch]
        writer = gguf.GGUFWriter(out_path, arch)
        writer.add_name(name or model_dir.name)
        writer.add_string("general.converter", f"{CONVERTER_NAME} {__version__}")
        write_hparams(writer, hp)
        writer.add_file_type(OUTTYPES[outtype][1])
        vocab.write(writer)
        for p in plan:
            raw = gguf.GGMLQuantizationType.BF16 if p.qtype == gguf.GGMLQuantizationType.BF16 else None
            dtype = (
                np.float32
                if p.qtype == gguf.GGMLQuantizationType.F32
                else (np.uint16 if raw is not None else np.float16)
            )
            writer.add_tensor_info(p.gguf_name, p.shape, np.dtype(dtype), _nbytes(p), raw_dtype=raw)
        _write(writer, ckpt, plan, hp, progress)
        n_params = sum(int(np.prod(p.shape, dtype=np.int64)) for p in plan)
        return ConvertResult(out_path, arch, hp, vocab, n_params)
    finally:
        ckpt.close()


def _write(
    writer: gguf.GGUFWriter,
    ckpt: Checkpoint,
    plan: list[PlannedTensor],
    hp: HParams,
    progress: Progress | None,
) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = sum(_nbytes(p) for p in plan)
    done = 0
    try:
        for p in plan:
            data = ckpt.read_f32(p.source) if p.source is not None else llama3_rope_factors(hp)
            if p.permute_heads:
                data = permute_rows(data, p.permute_heads)
            out = _encode(data, p.qtype)
            del data
            writer.write_tensor_data(out)
            done += out.nbytes
            del out
            if progress:
                progress("convert", done, total)
        writer.flush()
    finally:
        writer.close()
