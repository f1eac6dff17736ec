"""The one settings schema. Environment variables (prefix `HEARTH_`), an optional TOML file and CLI flags all
resolve to these fields; CLI options are generated from them (see `assistant.cli.options`).

Precedence, highest first: CLI flags, environment, `--config FILE` or `$HEARTH_HOME/config.toml`, defaults.
Nested groups read `HEARTH_<GROUP>_<FIELD>`, e.g. `HEARTH_ENGINE_N_CTX=4096`, `HEARTH_CLOUD_BASE_URL=...`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

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
    n_batch: int = Field(512, ge=1, description="Tokens per forward pass: every decoding sequence's next token "
                         "plus prompt chunks, so a long prompt is processed in pieces between other streams' "
                         "tokens.")
    parallel: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field("auto", description="Slots: sequences decoded together in one batch, "
                                            "each with its own `n_ctx` window of KV cache; `auto` lets the "
                                            "memory planner choose (up to 4) for the device.")
    max_queue: int = Field(64, ge=1, description="Sequences that may wait for a free slot; more are refused as "
                           "busy (HTTP 429), never escalated.")
    n_gpu_layers: int | Literal["auto"] = Field(0, description="Layers to offload to the GPU (-1 all), or `auto`.")
    kv_type: Literal["f16", "q8_0", "q4_0", "auto"] = Field("f16", description="KV cache element type.")
    flash_attn: bool | Literal["auto"] = Field("auto", description="Use flash attention (`auto`: when supported).")
    context_policy: Literal["error", "truncate-oldest"] = Field(
        "truncate-oldest", description="What a chat session (CLI, voice) does when prompt plus reserved reply "
        "exceed the context: fail, or drop the oldest whole exchanges (the system prompt is kept). The server "
        "follows `server.truncation` instead.")
    reserve_tokens: int = Field(256, ge=1, description="Tokens kept free for the reply when budgeting context "
                                "(max_tokens if that is smaller).")
    chat_template_file: Path | None = Field(
        None, description="A Jinja chat template used instead of the model's own `tokenizer.chat_template` "
        "(as llama.cpp's `--chat-template-file`): for a GGUF whose template is missing or wrong. A template that "
        "asks for `<tool_call>` tags, Llama 3's `parameters` objects or Mistral's `[TOOL_CALLS]` array gets that "
        "tool-call syntax.")


class ServerSettings(_Group):
    """The OpenAI-compatible HTTP endpoint (`hearth serve`)."""

    host: str = Field("127.0.0.1", description="Address to bind; loopback by default.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    queue_size: int = Field(16, ge=1, description="Requests that may wait for the model; more get 429.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest accepted request body.")
    request_timeout_s: float = Field(300.0, gt=0, description="Deadline for one request, queueing included.")
    aliases: tuple[str, ...] = Field(("local",), description="Extra model names the server answers to.")
    cors_origins: tuple[str, ...] = Field((), description="Origins browsers may call the API from (e.g. "
                                          "`http://localhost:3000`, or `*`); none by default. Preflight `OPTIONS` "
                                          "requests are answered without the API key; the real request needs it.")
    embed_max_inputs: int = Field(256, ge=1, description="Most inputs in one embeddings request "
                                  "(`/v1/embeddings`, `/api/embed`); more get 400.")
    embed_max_tokens: int = Field(32768, ge=1, description="Most tokens of all inputs together in one embeddings "
                                  "request; more get 400 (each input is also limited to the context window).")
    truncation: Literal["disabled", "auto"] = Field(
        "disabled", description="What a chat request longer than the context gets when no cloud takes it: "
        "`disabled` answers 400 `context_length_exceeded`; `auto` drops its oldest whole exchanges and says so "
        "(`usage.truncated_tokens`, header `x-hearth-truncated-tokens`). A request's `truncation` field wins.")


class CloudSettings(_Group):
    """Any OpenAI-compatible cloud endpoint used for escalation."""

    base_url: str | None = Field(None, description="Base URL, e.g. `https://api.openai.com/v1`; unset disables "
                                 "the cloud.")
    model: str | None = Field(None, description="Cloud model name.")
    api_key: SecretStr | None = Field(None, description="Cloud API key (never logged).")
    connect_timeout_s: float = Field(3.0, gt=0, description="TCP/TLS connect timeout.")
    read_timeout_s: float = Field(30.0, gt=0, description="Timeout between bytes of a response.")
    retries: int = Field(2, ge=0, description="Retries on 429/5xx/connection errors (with backoff).")
    deadline_s: float = Field(20.0, gt=0, description="Deadline for the cloud to start answering (retries "
                              "included); past it the local answer is used, marked degraded.")
    backoff_s: float = Field(0.25, ge=0, description="First retry's backoff; it doubles per retry (a Retry-After "
                             "header can lengthen it, up to 8 s).")
    breaker_failures: int = Field(3, ge=1, description="Failed cloud requests within `breaker_window_s` that open "
                                  "the circuit breaker (the cloud is then skipped).")
    breaker_window_s: float = Field(60.0, gt=0, description="Window in which failures are counted.")
    breaker_cooldown_s: float = Field(30.0, gt=0, description="How long an open breaker waits before one probe "
                                      "request may try the cloud again.")
    aliases: tuple[str, ...] = Field(("cloud",), description="Model names that ask for the cloud explicitly "
                                     "(the cloud `model` name does too).")


class EscalationSettings(_Group):
    """When the Assistant leaves the device."""

    enabled: bool = Field(True, description="Escalate on triggers when a cloud is configured.")
    target_rate: float = Field(0.3, ge=0.0, le=1.0, description="Share of answers the low-confidence trigger "
                               "should escalate; the threshold is read from the calibration's held-out score "
                               "distribution under the default sampler.")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Fixed combined low-confidence score "
                                    "(calibrated P(wrong)) of a streamed answer's decision window (and of a tool "
                                    "call) above which to escalate; default: the one that escalates `target_rate`.")
    decision_window: int | None = Field(None, ge=1, description="Tokens of a streamed answer buffered and scored "
                                        "before deciding; default: the window the calibration was fit for.")
    complete_threshold: float | None = Field(None, ge=0.0, le=1.0, description="Like `threshold`, for "
                                             "non-streamed answers (`complete`), which are scored on up to "
                                             "`complete_window` tokens.")
    complete_window: int | None = Field(None, ge=1, description="Tokens of a non-streamed answer scored before "
                                        "deciding (the whole answer, up to this many); default: the window the "
                                        "calibration was fit for.")
    calibration_dir: Path | None = Field(None, description="Directory written by `hearth calibrate --out DIR` "
                                         "(the combined scores' weights); default: the calibration shipped for the "
                                         "default model.")
    redact_terms: tuple[str, ...] = Field((), description="Words or phrases privacy mode `redact` always replaces "
                                          "with placeholders.")
    audit: bool = Field(True, description="Append one JSON line per request to $HEARTH_HOME/audit.jsonl (no "
                        "prompt text unless `log_prompts`; the file is readable by its owner only).")
    audit_max_bytes: int = Field(10_000_000, ge=0, description="Size past which the audit log is rotated "
                                 "(`audit.jsonl` becomes `audit.jsonl.1`, and so on); 0 never rotates.")
    audit_keep: int = Field(3, ge=1, description="Rotated audit logs kept (`audit.jsonl.1` ... `.N`); older ones "
                            "are deleted.")


class QuantizeSettings(_Group):
    """Building quantized GGUF models from Hugging Face checkpoints (`hearth quantize`)."""

    default_preset: Literal["Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "Q5_K_M", "Q8_0"] = Field(
        "Q4_K_M", description="Quantization preset used when `--preset` is not given.")
    threads: int | None = Field(None, ge=1, description="CPU threads for converting, calibrating, quantizing and "
                                "evaluating; default: all cores.")
    outtype: Literal["f16", "bf16", "f32"] = Field("f16", description="Element type of the unquantized "
                                                   "intermediate GGUF (2-D weights; 1-D tensors are always F32).")
    imatrix: bool = Field(True, description="Compute an importance matrix from calibration text and pass it to "
                          "the quantizer (IQ4_XS requires it).")
    calibration_bytes: int = Field(240_000, ge=1_000, description="Bytes of calibration text used for the "
                                   "importance matrix (from the start of the calibration text).")
    eval_bytes: int = Field(120_000, ge=0, description="Bytes of held-out text for perplexity and KL divergence; "
                            "0 skips the evaluation.")
    ctx: int = Field(512, ge=32, description="Tokens per chunk for calibration and evaluation.")
    keep_f16: bool = Field(False, description="Keep the unquantized intermediate GGUF next to the output.")
    add_to_store: bool = Field(True, description="Register the build in the model store so `--model` can use it.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) when SOURCE is a repo id.")


WakeWord = Literal["okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy"]


class VoiceSettings(_Group):
    """The offline voice pipeline (`hearth voice`, `hearth wyoming`): wake word, VAD, speech-to-text, replies, TTS."""

    home_file: Path | None = Field(None, description="Home description TOML (rooms, devices, capabilities); "
                                   "default: the example home shipped with Hearth.")
    wake_words: tuple[WakeWord, ...] = Field(("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy"),
                                             description="Built-in openWakeWord models to listen for.")
    wake_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Wake-word probability that counts as a "
                                  "detection.")
    wake_refractory_s: float = Field(2.0, ge=0.0, description="Seconds after a detection during which the same "
                                     "wake word is not reported again.")
    wake_mode: Literal["required", "optional", "off"] = Field(
        "optional", description="`required`: only speech after a wake word is a command; `optional`: without a "
        "wake word in a finite input, its first utterance is the command (a live microphone always needs one); "
        "`off`: the first utterance is the command.")
    vad_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Silero speech probability above which a "
                                 "32 ms frame counts as speech.")
    trailing_silence_s: float = Field(0.5, ge=0.1, le=5.0, description="Silence after speech that ends an "
                                      "utterance (end-of-speech detection delay).")
    listen_timeout_s: float = Field(8.0, gt=0.0, description="After a wake word, give up if no speech starts "
                                    "within this many seconds of audio.")
    max_utterance_s: float = Field(15.0, gt=0.0, description="An utterance longer than this is cut and "
                                   "recognised as it is.")
    command_silence_s: float = Field(0.2, ge=0.05, le=5.0, description="Silence that ends an utterance early once "
                                     "the home grammar holds a complete command (instead of trailing_silence_s).")
    asr_engine: Literal["hybrid", "whisper", "pocketsphinx"] = Field(
        "hybrid", description="Speech-to-text: `hybrid` (the home grammar for commands, Whisper for the rest), "
        "`whisper` alone, or `pocketsphinx` alone (grammar + open vocabulary; no download). Without the Whisper "
        "model or faster-whisper, `hybrid` and `whisper` fall back to `pocketsphinx` with a warning.")
    asr_trust_margin: float | None = Field(None, description="`hybrid`: a grammar transcript whose margin (see "
                                           "asr_reject_margin) reaches this is used without Whisper's check; "
                                           "default: always checked (out-of-home commands reached margins of 16+).")
    whisper_model: str = Field("whisper-base", description="Whisper model: a store name (`hearth pull "
                               "whisper-base`) or a folder with a CTranslate2 Whisper model.")
    whisper_threads: int = Field(2, ge=1, description="CPU threads for Whisper.")
    whisper_beam_size: int = Field(1, ge=1, le=10, description="Whisper beam size (1: greedy, fastest).")
    asr_open_fallback: bool = Field(True, description="Decode utterances outside the home grammar with the "
                                    "open-vocabulary language model (otherwise they yield no transcript).")
    asr_reject_margin: float = Field(5.0, description="A grammar transcript is kept only if its pocketsphinx path "
                                     "score beats open-vocabulary decoding by this much per 10 ms frame (rejects "
                                     "speech forced into a command; needs asr_open_fallback).")
    tts_engine: Literal["piper", "espeak-ng"] = Field(
        "piper", description="Text-to-speech engine; without the Piper voice or piper-tts, espeak-ng speaks "
        "instead (with a warning).")
    piper_voice: str = Field("piper-joe-medium", description="Piper voice: a store name (`hearth pull "
                             "piper-joe-medium`), a folder or an `.onnx` file (with its `.onnx.json`).")
    tts_voice: str = Field("en-us", description="espeak-ng voice name (the fallback engine).")
    tts_cache_size: int = Field(256, ge=0, description="Spoken sentences kept in memory for reuse (0: none).")
    tts_prewarm: bool = Field(True, description="At start, synthesise the replies to on/off commands of every "
                              "device into the cache in the background.")
    tts_speed: int = Field(175, ge=80, le=450, description="Speaking rate in words per minute.")
    tts_timeout_s: float = Field(10.0, gt=0.0, description="Deadline for synthesising one sentence.")
    first_chunk_words: int = Field(6, ge=2, le=40, description="The first spoken piece of an assistant reply is cut "
                                   "after this many words if no sentence ends sooner (its synthesis is the wait "
                                   "before the first audio).")
    max_tokens: int = Field(64, ge=1, description="Most tokens of a spoken assistant reply (short replies start "
                            "speaking sooner).")
    system_prompt: str = Field(
        "You are Hearth, a voice assistant in a smart home. Answer in one or two short spoken sentences, "
        "in plain words without lists or markdown.", description="System message for spoken replies.")
    reply_timeout_s: float = Field(30.0, gt=0.0, description="Deadline for the assistant's whole spoken reply.")
    home_tools: bool = Field(True, description="An utterance the command grammar cannot parse that names a room "
                             "of the home or says it is uncomfortable (too dark, cold, make it cosy, ...) goes to the "
                             "model with the home's devices as tools (one call, carried out like a spoken command); "
                             "off: it is answered as a question.")
    executor: Literal["simulated", "homeassistant"] = Field(
        "simulated", description="Who carries out commands: an in-memory simulated home, or Home Assistant's "
        "REST API.")
    ha_url: str | None = Field(None, description="Home Assistant base URL, e.g. `http://homeassistant.local:8123`.")
    ha_token: SecretStr | None = Field(None, description="Home Assistant long-lived access token (never logged).")
    ha_timeout_s: float = Field(5.0, gt=0.0, description="Timeout for one Home Assistant request.")
    wyoming_uri: str = Field("tcp://127.0.0.1:10700", description="Where `hearth wyoming` listens: "
                             "`tcp://HOST:PORT`, `unix://PATH` or `stdio://`.")
    wyoming_stream_handled: bool = Field(True, description="Advertise and send streamed replies (`handled-start`, "
                                         "`handled-chunk`, `handled-stop`) to `transcript` events.")
    wyoming_stream_asr: bool = Field(True, description="Advertise and send streamed transcripts "
                                     "(`transcript-start`, `transcript-chunk`, `transcript-stop`, then `transcript`).")
    wyoming_stream_tts: bool = Field(True, description="Advertise and accept streaming synthesis "
                                     "(`synthesize-start`/`-chunk`/`-stop`).")


class DeviceSettings(_Group):
    """Which device Hearth plans memory for, and how much of it to leave to others."""

    profile: str = Field("auto", description="Device profile id (`hearth plan --all-devices` lists them), e.g. "
                         "`orin-nano-8gb`, `l4`, `host-cpu`; `auto` detects the device.")
    reserve_os_bytes: int | None = Field(None, ge=0, description="Memory kept for the OS and other processes "
                                         "(unified-memory devices and host RAM); default: the profile's.")
    host_bandwidth_gbs: float | None = Field(None, gt=0, description="Host memory bandwidth in GB/s; default: "
                                             "measured once and cached under HEARTH_HOME.")
    max_auto_ctx: int = Field(32768, ge=256, description="Largest context `n_ctx = auto` picks, however much "
                              "memory there is.")


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
    quantize: QuantizeSettings = Field(default_factory=QuantizeSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    device: DeviceSettings = Field(default_factory=DeviceSettings)

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
