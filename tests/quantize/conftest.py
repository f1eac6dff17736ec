"""Fixtures for the quantize tests: tokenizers trained offline, tiny random-weight models of each supported
architecture built with transformers, and the real default model exported as a Hugging Face directory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.threads import ENV as THREAD_ENV

# A multilingual training text, so byte fallback and multi-byte merges are exercised.
_CORPUS_LINES = [
    "The quick brown fox jumps over the lazy dog while 42 cats watch.",
    "It's a truth universally acknowledged; we'll see, they've said, I'm sure.",
    "Python code: def square(x):\n    return x * x  # fast\n",
    "Français: l'élève a mangé une crème brûlée au café. Deutsch: Die Straße ist groß.",
    "Español: ¿Dónde está la biblioteca? Русский: Привет, как дела сегодня?",
    "中文：今天天气很好，我们去公园散步吧。日本語：東京は大きな都市です。",
    "Numbers 3.14159, 2024-06-01, 1,000,000 and emoji 🙂 appear sometimes.",
    "Ελληνικά: Καλημέρα σε όλους. العربية: صباح الخير. हिन्दी: नमस्ते।",
]
CORPUS = "\n".join(_CORPUS_LINES * 40)

LLAMA3_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
QWEN2_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)


@pytest.fixture(scope="session")
def spm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Llama-style SentencePiece tokenizer (BPE, byte fallback, digits split, no normalisation)."""
    import sentencepiece as spm

    d = tmp_path_factory.mktemp("spm")
    (d / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(d / "corpus.txt"),
        model_prefix=str(d / "tokenizer"),
        vocab_size=800,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        character_coverage=0.9995,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return d


def _bpe_tokenizer(regex: str, specials: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(regex), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS_LINES * 40, trainer)
    return tok


def _write_spm(model_dir: Path, spm: Path) -> None:
    (model_dir / "tokenizer.model").write_bytes((spm / "tokenizer.model").read_bytes())
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "add_bos_token": True,
                "add_eos_token": False,
                "legacy": False,
                "chat_template": "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}",
            }
        )
    )


def _write_bpe(model_dir: Path, regex: str, bos: str, eos: str) -> None:
    from tokenizers import processors

    tok = _bpe_tokenizer(regex, [bos, eos, "<|pad|>"])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": bos,
                "eos_token": eos,
                "pad_token": "<|pad|>",
                "chat_template": "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}",
            }
        )
    )


# name -> (config overrides, tokenizer kind)
TINY_MODELS: dict[str, tuple[dict, str]] = {
    "llama-spm": ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, "spm"),
    "mistral-spm": (
        {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": None},
        "spm",
    ),
    "qwen2-bpe": ({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}, "bpe-qwen2"),
    "llama3-bpe": (
        {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "tie_word_embeddings": True,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
        },
        "bpe-llama3",
    ),
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, spm_dir: Path) -> Callable[[str], Path]:
    """Factory: a saved tiny random-weight model directory for one TINY_MODELS entry (cached per session)."""
    built: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in built:
            built[name] = _build_tiny(tmp_path_factory.mktemp(name), name, spm_dir)
        return built[name]

    return make


REFERENCE_MISSING = "the reference models need torch and transformers (the `reference` extra; no torch CPU build here)"


def _reference():
    """torch and transformers, or a skip of the calling test when they are not installed (Python 3.10 in CI)."""
    return pytest.importorskip("torch", reason=REFERENCE_MISSING), pytest.importorskip(
        "transformers", reason=REFERENCE_MISSING)


def _build_tiny(d: Path, name: str, spm_dir: Path) -> Path:
    torch, _ = _reference()
    from transformers import AutoConfig, AutoModelForCausalLM

    overrides, tok_kind = TINY_MODELS[name]
    if tok_kind == "spm":
        _write_spm(d, spm_dir)
        vocab, ids = 800, {"bos_token_id": 1, "eos_token_id": 2}
    else:
        bos, eos = (
            ("<|im_start|>", "<|endoftext|>")
            if tok_kind == "bpe-qwen2"
            else ("<|begin_of_text|>", "<|end_of_text|>")
        )
        _write_bpe(d, QWEN2_REGEX if tok_kind == "bpe-qwen2" else LLAMA3_REGEX, bos, eos)
        vocab, ids = 512, {"bos_token_id": 0, "eos_token_id": 1}  # padded above the 500 trained tokens
    kw = dict(overrides)
    model_type = kw.pop("model_type")
    config = AutoConfig.for_model(
        model_type,
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        **ids,
        **kw,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # larger-than-default weights make logits spread, so a layout error cannot hide
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def smol_hf_dir(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    """The real default model, loaded from its GGUF by transformers, saved as HF safetensors."""
    torch, _ = _reference()
    pytest.importorskip("safetensors", reason=REFERENCE_MISSING)
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = tmp_path_factory.mktemp("smollm2-hf") / "SmolLM2-135M-Instruct"
    d.mkdir()
    src = default_model_path
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    (d / "config.json").write_text(json.dumps(config, indent=2))
    save_model(model, str(d / "model.safetensors"))
    AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name).save_pretrained(str(d))
    return d


@pytest.fixture(scope="session")
def quiet_env() -> dict[str, str]:
    """Environment for CLI subprocesses: passive OpenMP waits keep llama.cpp fast on a shared 2-core box."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")} | THREAD_ENV
    env.update(OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env
