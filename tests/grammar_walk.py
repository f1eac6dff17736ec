"""Whether a GBNF grammar lets the model write a text: the text's tokens (the default model's vocabulary) are
offered to llama.cpp's own grammar sampler one at a time, as the engine's sampler offers candidates; a token the
grammar strikes out (logit set to -inf) ends the walk."""

from __future__ import annotations

import ctypes
import math
from pathlib import Path
from typing import TYPE_CHECKING

import llama_cpp as L

from assistant.engine.llamacpp_load import load_model

if TYPE_CHECKING:
    from typing_extensions import Self


class GrammarWalk:
    """A vocabulary (loaded `vocab_only`) to walk grammars over. Use as a context manager (frees the model)."""

    def __init__(self, model_path: Path) -> None:
        self.model = load_model(model_path, vocab_only=True)
        self.vocab = L.llama_model_get_vocab(self.model)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        L.llama_model_free(self.model)

    def tokens(self, text: str, special: bool = False) -> list[int]:
        """`text`'s tokens (`special`: control tokens' texts are those tokens)."""
        data = text.encode("utf-8")
        out = (L.llama_token * (len(data) + 8))()
        n = L.llama_tokenize(self.vocab, data, len(data), out, len(out), False, special)
        assert n >= 0, text
        return list(out[:n])

    def accepts(self, grammar: str, text: str) -> bool:
        """Whether every token of `text` is allowed in turn (a prefix of an allowed answer is accepted)."""
        return self.accepts_tokens(grammar, self.tokens(text))

    def accepts_tokens(self, grammar: str, tokens: list[int]) -> bool:
        """Whether every one of `tokens` is allowed in turn."""
        sampler = L.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        assert sampler, "llama.cpp refused the grammar"
        try:
            for token in tokens:
                cell = L.llama_token_data(id=token, logit=0.0, p=0.0)
                cur = L.llama_token_data_array(data=ctypes.pointer(cell), size=1, selected=-1, sorted=False)
                L.llama_sampler_apply(sampler, ctypes.byref(cur))
                if math.isinf(cell.logit):
                    return False
                L.llama_sampler_accept(sampler, token)
            return True
        finally:
            L.llama_sampler_free(sampler)
