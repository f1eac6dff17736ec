"""The rendered chat prompt equals transformers' apply_chat_template token for token."""

from __future__ import annotations

import pytest

from assistant.engine import ChatMessage

CONVERSATIONS = [
    [ChatMessage("user", "Hi!")],
    [ChatMessage("system", "You are a pirate."), ChatMessage("user", "Where is the gold?")],
    [ChatMessage("user", "2+2?"), ChatMessage("assistant", "4"), ChatMessage("user", "Und 3+3? Ünïcödé ✓")],
]


@pytest.fixture(scope="module")
def hf_tokenizer(default_model_path):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(default_model_path.parent),
                                                      gguf_file=default_model_path.name)


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["user", "system", "multi-turn"])
def test_template_tokens_equal_transformers(engine, hf_tokenizer, conversation):
    dicts = [{"role": m.role, "content": m.content} for m in conversation]
    expected = hf_tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=True)
    if isinstance(expected, dict) or hasattr(expected, "input_ids"):
        expected = expected["input_ids"]
    assert engine.prompt_tokens(conversation) == list(expected)


def test_a_gemma_file_without_a_template_gets_gemmas_turns():
    """A GGUF with no `tokenizer.chat_template` (the catalog's Gemma 3 270M) is prompted in its family's turn
    format, as Google documents it; other families without one get ChatML."""
    from assistant.engine.chat_template import CHATML, ChatTemplate, fallback_template
    from assistant.errors import InvalidRequestError

    gemma = ChatTemplate(fallback_template("gemma3"), bos_token="<bos>")
    text = gemma.render([ChatMessage("system", "Be brief."), ChatMessage("user", " Hi "),
                         ChatMessage("assistant", "Hello."), ChatMessage("user", "Why?")])
    assert text == ("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                    "<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n")
    with pytest.raises(InvalidRequestError, match="alternate"):
        gemma.render([ChatMessage("user", "a"), ChatMessage("user", "b")])
    assert fallback_template("llama") == CHATML
