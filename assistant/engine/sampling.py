"""The one set of sampling parameters, shared by settings, CLI, server and every engine."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SamplingParams(BaseModel):
    """How to pick tokens. Defaults are tuned to keep the small default model out of repetition loops
    (measured: no reply of the fixed prompt set repeats a 4-gram more than 3 times)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.6, ge=0.0, le=2.0, description="Softmax temperature; 0 means greedy decoding.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling: keep the smallest set of tokens "
                         "whose probability adds up to this.")
    top_k: int = Field(40, ge=0, le=2**31 - 1, description="Keep only the K most likely tokens (0 disables).")
    min_p: float = Field(0.05, ge=0.0, le=1.0, description="Drop tokens less likely than this fraction of the "
                         "most likely token.")
    repeat_penalty: float = Field(1.1, gt=0.0, le=4.0, description="Multiplicative penalty on tokens seen in the "
                                  "last `penalty_last_n` tokens (1.0 disables).")
    penalty_last_n: int = Field(64, ge=0, le=2**31 - 1, description="How many recent tokens the penalties look at.")
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0, description="Additive penalty proportional to how "
                                     "often a token already appeared (OpenAI semantics).")
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0, description="Additive penalty on any token that already "
                                    "appeared (OpenAI semantics).")
    max_tokens: int | None = Field(512, ge=1, description="Most tokens to generate; None means up to the context "
                                   "window.")
    stop: tuple[str, ...] = Field((), description="Strings that end generation; they are not part of the output.")
    seed: int | None = Field(None, ge=0, description="Random seed; the same seed and prompt give the same output.")
    top_logprobs: int = Field(0, ge=0, le=20, description="How many most likely alternatives to report for each "
                              "generated token (their log-probabilities).")
    grammar: str | None = Field(None, description="A GBNF grammar the output must follow (used for JSON output).")
    logit_bias: dict[int, float] = Field(default_factory=dict, description="Token id -> bias added to its logit "
                                         "(-100 bans the token, 100 makes it the only choice), e.g. "
                                         "`42:-100,7:5`.")

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        return value

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _bias_from_text(cls, value: object) -> object:
        # The CLI and environment give `ID:BIAS,ID:BIAS`; TOML and JSON give a table.
        if isinstance(value, str):
            value = [p for p in value.split(",") if p.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
            try:
                return {int(k): float(v) for k, v in (p.replace("=", ":").split(":", 1) for p in value)}
            except ValueError:
                raise ValueError("logit_bias entries are ID:BIAS, e.g. 42:-100") from None
        return value

    @field_validator("logit_bias")
    @classmethod
    def _bias_range(cls, value: dict[int, float]) -> dict[int, float]:
        for token, bias in value.items():
            if token < 0 or not -100.0 <= bias <= 100.0:
                raise ValueError("logit_bias needs token ids >= 0 and biases in [-100, 100]")
        return value

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0
