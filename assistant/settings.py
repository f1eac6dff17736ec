"""The one settings schema. Environment variables (prefix `HEARTH_`), an optional TOML file and CLI flags all
resolve to these fields; CLI options are generated from them (see `assistant.cli.options`).

Precedence, highest first: CLI flags, environment, `--config FILE` or `$HEARTH_HOME/config.toml`, defaults.
Nested groups read `HEARTH_<GROUP>_<FIELD>`, e.g. `HEARTH_ENGINE_N_CTX=4096`, `HEARTH_CLOUD_BASE_URL=...`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict,
                               TomlConfigSettingsSource)

from .engine.sampling import SamplingParams
from .errors import ConfigError

DEFAULT_MODEL = "smollm2-135m-instruct"
Privacy = Literal["never", "redact", "allow"]


def default_home() -> Path:
    return Path(os.environ.get("HEARTH_HOME") or Path.home() / ".cache" / "hearth")


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineSettings(_Group):
    """How the local model is loaded and run."""

    backend: Literal["llamacpp"] = Field("llamacpp", description="Inference backend.")
    n_ctx: int | Literal["auto"] = Field(4096, description="Context window in tokens, or `auto` to let the memory "
                                         "planner choose the largest that fits the device.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads for decoding; default: physical cores.")
    n_batch: int = Field(512, ge=1, description="Prompt tokens processed per forward pass.")
    n_gpu_layers: int | Literal["auto"] = Field(0, description="Layers to offload to the GPU (-1 all), or `auto`.")
    kv_type: Literal["f16", "q8_0", "q4_0", "auto"] = Field("f16", description="KV cache element type.")
    flash_attn: bool | Literal["auto"] = Field("auto", description="Use flash attention (`auto`: when supported).")
    context_policy: Literal["error", "truncate-oldest"] = Field(
        "truncate-oldest", description="What a chat session does when prompt plus reserved reply exceed the "
        "context: fail, or drop the oldest turns (the system prompt is kept).")
    reserve_tokens: int = Field(256, ge=1, description="Tokens kept free for the reply when budgeting context "
                                "(max_tokens if that is smaller).")


class ServerSettings(_Group):
    """The OpenAI-compatible HTTP endpoint (`hearth serve`)."""

    host: str = Field("127.0.0.1", description="Address to bind; loopback by default.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    queue_size: int = Field(16, ge=1, description="Requests that may wait for the model; more get 429.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest accepted request body.")
    request_timeout_s: float = Field(300.0, gt=0, description="Deadline for one request, queueing included.")
    aliases: tuple[str, ...] = Field(("local",), description="Extra model names the server answers to.")


class CloudSettings(_Group):
    """Any OpenAI-compatible cloud endpoint used for escalation."""

    base_url: str | None = Field(None, description="Base URL, e.g. `https://api.openai.com/v1`; unset disables "
                                 "the cloud.")
    model: str | None = Field(None, description="Cloud model name.")
    api_key: SecretStr | None = Field(None, description="Cloud API key (never logged).")
    connect_timeout_s: float = Field(3.0, gt=0, description="TCP/TLS connect timeout.")
    read_timeout_s: float = Field(30.0, gt=0, description="Timeout between bytes of a response.")
    retries: int = Field(2, ge=0, description="Retries on 429/5xx/connection errors (with backoff).")
    deadline_s: float = Field(20.0, gt=0, description="Whole-request deadline; past it the local answer is used.")


class EscalationSettings(_Group):
    """When the Assistant leaves the device."""

    enabled: bool = Field(True, description="Escalate on triggers when a cloud is configured.")
    threshold: float = Field(0.5, description="Combined low-confidence score above which to escalate.")
    decision_window: int = Field(8, ge=1, description="Tokens buffered in a stream before deciding.")


class Settings(BaseSettings):
    """All of Hearth's settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_", env_nested_delimiter="_", env_nested_max_split=1,
                                      extra="forbid", validate_default=True)

    home: Path = Field(default_factory=default_home, description="Where models, config and logs live.")
    model: str = Field(DEFAULT_MODEL, description="Model to use: a catalog id, a store name or a GGUF path.")
    api_key: SecretStr | None = Field(None, description="If set, the server requires `Authorization: Bearer KEY`.")
    privacy: Privacy = Field("allow", description="What may leave the device: `never`, `redact` (PII replaced by "
                             "placeholders first) or `allow`.")
    log_prompts: bool = Field(False, description="Include prompt text in logs and the audit log.")
    catalog: Path | None = Field(None, description="Model catalog TOML (default: the one shipped with Hearth).")
    engine: EngineSettings = Field(default_factory=EngineSettings)
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    server: ServerSettings = Field(default_factory=ServerSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get("path") or default_home() / "config.toml"
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if Path(toml_file).is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


# The TOML path is chosen per load; pydantic-settings asks for sources on the class, so it is handed over here.
_CONFIG_FILE: dict[str, Path | None] = {"path": None}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment, a TOML file and explicit overrides (nested groups as dicts)."""
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError(f"config file not found: {config_file}")
    _CONFIG_FILE["path"] = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc)) from None
    except (OSError, ValueError) as exc:  # a broken TOML file surfaces as ValueError
        raise ConfigError(f"cannot read settings: {exc}") from None
    finally:
        _CONFIG_FILE["path"] = None


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        parts.append(f"{where}: {err['msg']}")
    return "invalid settings: " + "; ".join(parts)
