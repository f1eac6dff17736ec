"""Proof that the exported tokenizer is the model's: token ids of a multilingual probe text, encoded by
llama.cpp
from the GGUF and by the reference tokenizer (sentencepiece or `tokenizers`), must be identical."""

from __future__ import annotations

from pathlib import Path

from assistant.engine.llamacpp_load import load_model
from assistant.errors import EngineError, QuantizeError

from .vocab import Vocab

PROBE_TEXT = (
    "Hello world! The quick brown fox jumps over 13 lazy dogs, 3.14159 and 2024-06-01.\n"
    "  Indented line\twith a tab; it's we'll they've I'm.\n\n"
    "Français: élève, garçon, naïve. Deutsch: Straße, Übergröße. Español: ¿Cómo estás? ñandú.\n"
    "Русский: Привет, как дела? Ελληνικά: Καλημέρα κόσμε. العربية: مرحبا بالعالم. עברית: שלום.\n"
    "中文：你好，世界。日本語：こんにちは、世界！한국어: 안녕하세요. हिन्दी: नमस्ते दुनिया।\n"
    "Emoji 🙂🚀 and symbols ∑∫√ ≤≥ → ← «quotes» “curly” — dashes … ellipsis.\n"
    "code: def f(x):\n    return x**2  # comment\n"
)


def reference_ids(vocab: Vocab, text: str) -> list[int]:
    """Token ids from the model's own tokenizer, without special tokens."""
    ref = Path(vocab.reference)
    if vocab.model == "llama":
        from sentencepiece import SentencePieceProcessor

        return list(SentencePieceProcessor(model_file=str(ref)).encode(text))
    from tokenizers import Tokenizer

    return list(Tokenizer.from_file(str(ref)).encode(text, add_special_tokens=False).ids)


def gguf_ids(gguf_path: Path, text: str) -> list[int]:
    """Token ids from llama.cpp's tokenizer loaded from the GGUF (vocabulary only)."""
    import llama_cpp

    try:
        model = load_model(gguf_path, vocab_only=True)
    except EngineError as exc:
        raise QuantizeError(f"llama.cpp cannot read the converted tokenizer: {exc}") from None
    try:
        data = text.encode("utf-8")
        buf = (llama_cpp.llama_token * (len(data) + 16))()
        n = llama_cpp.llama_tokenize(
            llama_cpp.llama_model_get_vocab(model), data, len(data), buf, len(buf), False, False
        )
        return list(buf[:n]) if n >= 0 else []
    finally:
        llama_cpp.llama_model_free(model)


def check_tokenizer(gguf_path: Path, vocab: Vocab, text: str = PROBE_TEXT) -> int:
    """Raise QuantizeError unless both tokenizers agree on `text`; returns the number of tokens compared."""
    expected, got = reference_ids(vocab, text), gguf_ids(gguf_path, text)
    if expected != got:
        at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
        raise QuantizeError(
            f"the converted tokenizer disagrees with the model's at token {at} "
            f"(reference {expected[at : at + 5]}, GGUF {got[at : at + 5]}); refusing to build a "
            "model that would read text differently"
        )
    return len(expected)
