"""Tokenizer export to GGUF metadata: SentencePiece (`tokenizer.model`) and byte-level BPE (`tokenizer.json`),
special tokens, BOS/EOS behaviour and the chat template.

llama.cpp picks its BPE pre-tokenizer (the regex that splits text before merges) by name; we derive the name
from the
pre-tokenizer that `tokenizer.json` declares, then `quantize.tokcheck` proves the choice by comparing token
ids of a
multilingual probe text with the reference tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from assistant.errors import ModelFormatError, UnsupportedModelError

GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
_LLAMA3_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
_QWEN2_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
_TEKKEN_REGEX = (
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n"
    "\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}"
    "\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)

# (split regexes in order, whether digits are first split one by one) -> llama.cpp pre-tokenizer name
_PRE_TOKENIZERS: dict[tuple[tuple[str, ...], bool], str] = {
    ((GPT2_REGEX,), False): "gpt-2",
    ((GPT2_REGEX,), True): "smollm",
    ((_LLAMA3_REGEX,), False): "llama-bpe",
    ((_QWEN2_REGEX,), False): "qwen2",
    ((_TEKKEN_REGEX,), False): "tekken",
}
KNOWN_PRE_TOKENIZERS = sorted(set(_PRE_TOKENIZERS.values()))


@dataclass
class Vocab:
    """Everything the GGUF needs about a tokenizer."""

    model: str
    """GGUF tokenizer model: `llama` (SentencePiece) or `gpt2` (byte-level BPE)."""
    tokens: list[str]
    """Token texts by id."""
    types: list[int]
    """gguf.TokenType per token."""
    scores: list[float] | None = None
    """SentencePiece scores (None for BPE)."""
    merges: list[str] | None = None
    """BPE merges as `left right` (None for SentencePiece)."""
    pre: str | None = None
    """llama.cpp pre-tokenizer name (BPE only)."""
    special: dict[str, int] = field(default_factory=dict)
    """Special token ids by role: bos, eos, unk, pad."""
    add_bos: bool | None = None
    """Whether encoding prepends BOS."""
    add_eos: bool | None = None
    """Whether encoding appends EOS."""
    chat_template: str | None = None
    """Jinja chat template."""
    reference: str = ""
    """The file the vocabulary came from (the reference for the token-id check)."""

    def write(self, w: gguf.GGUFWriter) -> None:
        w.add_tokenizer_model(self.model)
        if self.pre:
            w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        w.add_token_types(self.types)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        if self.merges is not None:
            w.add_token_merges(self.merges)
        adders = {
            "bos": w.add_bos_token_id,
            "eos": w.add_eos_token_id,
            "unk": w.add_unk_token_id,
            "pad": w.add_pad_token_id,
        }
        for role, tid in self.special.items():
            adders[role](tid)
        if self.add_bos is not None:
            w.add_add_bos_token(self.add_bos)
        if self.add_eos is not None:
            w.add_add_eos_token(self.add_eos)
        if self.chat_template:
            w.add_chat_template(self.chat_template)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"cannot read {path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path.name}: expected a JSON object")
    return data


def load_vocab(model_dir: Path, n_vocab: int, config: dict[str, Any]) -> Vocab:
    """Read the tokenizer of a model directory (SentencePiece preferred, as llama.cpp's converter does)."""
    tcfg_path = model_dir / "tokenizer_config.json"
    tcfg = _load_json(tcfg_path) if tcfg_path.is_file() else {}
    if (model_dir / "tokenizer.model").is_file():
        vocab = _sentencepiece(model_dir, n_vocab)
    elif (model_dir / "tokenizer.json").is_file():
        vocab = _bpe(model_dir / "tokenizer.json", n_vocab)
    else:
        raise ModelFormatError(f"{model_dir}: no tokenizer (tokenizer.model or tokenizer.json) found")
    lookup = {t: i for i, t in enumerate(vocab.tokens)}
    for role in ("bos", "eos", "unk", "pad"):
        text = _token_text(tcfg.get(f"{role}_token"))
        if text is not None and text in lookup:
            vocab.special[role] = lookup[text]
        elif role not in vocab.special and isinstance(config.get(f"{role}_token_id"), int):
            vocab.special[role] = config[f"{role}_token_id"]
    if "add_bos_token" in tcfg:
        vocab.add_bos = bool(tcfg["add_bos_token"])
    if "add_eos_token" in tcfg:
        vocab.add_eos = bool(tcfg["add_eos_token"])
    vocab.chat_template = _chat_template(model_dir, tcfg)
    return vocab


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(model_dir: Path, tcfg: dict[str, Any]) -> str | None:
    template = tcfg.get("chat_template")
    if isinstance(template, list):  # named templates: llama.cpp uses the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    jinja = model_dir / "chat_template.jinja"
    if not template and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    return template or None


def _pad(vocab: Vocab, n_vocab: int) -> None:
    if len(vocab.tokens) > n_vocab:
        raise ModelFormatError(
            f"the tokenizer has {len(vocab.tokens)} tokens but the model's embedding only {n_vocab} rows"
        )
    for i in range(len(vocab.tokens), n_vocab):
        vocab.tokens.append(f"[PAD{i}]")
        vocab.types.append(gguf.TokenType.UNUSED)
        if vocab.scores is not None:
            vocab.scores.append(-1000.0)


def _sentencepiece(model_dir: Path, n_vocab: int) -> Vocab:
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError:
        raise UnsupportedModelError(
            "this model's tokenizer needs `sentencepiece`: pip install 'hearth[quantize]'"
        ) from None
    path = model_dir / "tokenizer.model"
    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(str(path))
    except (OSError, RuntimeError) as exc:
        raise ModelFormatError(f"{path.name}: not a SentencePiece model ({exc})") from None
    tokens, types, scores = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        types.append(
            gguf.TokenType.UNKNOWN
            if sp.is_unknown(i)
            else gguf.TokenType.CONTROL
            if sp.is_control(i)
            else gguf.TokenType.UNUSED
            if sp.is_unused(i)
            else gguf.TokenType.BYTE
            if sp.is_byte(i)
            else gguf.TokenType.NORMAL
        )
    vocab = Vocab("llama", tokens, types, scores=scores, reference=str(path))
    _add_extra_tokens(vocab, model_dir)
    for role, tid in (("bos", sp.bos_id()), ("eos", sp.eos_id()), ("unk", sp.unk_id()), ("pad", sp.pad_id())):
        if tid >= 0:
            vocab.special[role] = tid
    _pad(vocab, n_vocab)
    return vocab


def _add_extra_tokens(vocab: Vocab, model_dir: Path) -> None:
    """Tokens added on top of the SentencePiece model (tokenizer.json's added_tokens or added_tokens.json)."""
    added: dict[int, tuple[str, bool]] = {}
    if (model_dir / "tokenizer.json").is_file():
        for t in _load_json(model_dir / "tokenizer.json").get("added_tokens", []):
            added[int(t["id"])] = (t["content"], bool(t.get("special")))
    elif (model_dir / "added_tokens.json").is_file():
        for text, tid in _load_json(model_dir / "added_tokens.json").items():
            added[int(tid)] = (text, True)
    for tid, (text, special) in sorted(added.items()):
        kind = gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED
        if tid < len(vocab.tokens):
            if vocab.tokens[tid] == text and vocab.types[tid] == gguf.TokenType.NORMAL:
                vocab.types[tid] = kind
            continue
        while len(vocab.tokens) < tid:
            vocab.tokens.append(f"[PAD{len(vocab.tokens)}]")
            vocab.types.append(gguf.TokenType.UNUSED)
            vocab.scores.append(-1000.0)
        vocab.tokens.append(text)
        vocab.types.append(kind)
        vocab.scores.append(0.0)


def _bpe(path: Path, n_vocab: int) -> Vocab:
    tj = _load_json(path)
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise UnsupportedModelError(
            f"{path.name}: tokenizer model {model.get('type')!r} is not supported "
            "(supported: SentencePiece tokenizer.model, byte-level BPE tokenizer.json)"
        )
    pre = detect_pre_tokenizer(tj)
    by_id = {int(i): t for t, i in model.get("vocab", {}).items()}
    added = {int(t["id"]): t for t in tj.get("added_tokens", [])}
    size = max([*by_id, *added, -1]) + 1
    tokens, types = [], []
    for i in range(size):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    vocab = Vocab("gpt2", tokens, types, merges=merges, pre=pre, reference=str(path))
    vocab.add_bos = _post_processor_adds_bos(tj)
    _pad(vocab, n_vocab)
    return vocab


def _post_processor_adds_bos(tj: dict[str, Any]) -> bool:
    post = tj.get("post_processor") or {}
    steps = post.get("processors", [post]) if post.get("type") == "Sequence" else [post]
    for step in steps:
        single = step.get("single") if step.get("type") == "TemplateProcessing" else None
        if single:
            return "SpecialToken" in single[0]
    return False


def detect_pre_tokenizer(tj: dict[str, Any]) -> str:
    """llama.cpp's name for the pre-tokenizer declared in tokenizer.json."""
    pre = tj.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    regexes: list[str] = []
    digits = False
    byte_level = False
    for step in steps:
        kind = step.get("type")
        if kind == "Split":
            pattern = step.get("pattern", {})
            regexes.append(pattern.get("Regex") or pattern.get("String") or "")
        elif kind == "Digits":
            digits = bool(step.get("individual_digits"))
        elif kind == "ByteLevel":
            byte_level = True
            if step.get("use_regex", True):
                regexes.append(GPT2_REGEX)
        else:
            raise UnsupportedModelError(f"BPE pre-tokenizer step {kind!r} is not supported")
    if not byte_level and (tj.get("decoder") or {}).get("type") != "ByteLevel":
        raise UnsupportedModelError("only byte-level BPE tokenizers are supported")
    name = _PRE_TOKENIZERS.get((tuple(regexes), digits))
    if name is None:
        raise UnsupportedModelError(
            "the tokenizer's pre-tokenizer is not one llama.cpp knows by name; known: "
            + ", ".join(KNOWN_PRE_TOKENIZERS)
        )
    return name
