"""Typed errors of the Hearth core.

Every failure a user can cause or meet is one of these. Surfaces map them once at their boundary (a CLI line and exit
code, an OpenAI error envelope, a Wyoming error event); nothing below a surface formats messages for a person.
"""

from __future__ import annotations


class HearthError(Exception):
    """Base of every Hearth error. `code` is a stable machine-readable identifier."""

    code = "hearth_error"
    #: HTTP status a server boundary should use for this error.
    http_status = 500
    #: Process exit code a CLI boundary should use for this error.
    exit_code = 1

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ConfigError(HearthError):
    """Settings or a config file are invalid."""

    code = "invalid_config"
    http_status = 500
    exit_code = 2


class InvalidRequestError(HearthError):
    """A request asks for something malformed or unsupported (names the parameter)."""

    code = "invalid_request"
    http_status = 400
    exit_code = 2


class ModelNotFoundError(HearthError):
    """A model id is unknown, or known but not downloaded into the store."""

    code = "model_not_found"
    http_status = 404
    exit_code = 3


class ModelFormatError(HearthError):
    """A model file is missing, not GGUF, truncated or otherwise unusable."""

    code = "model_format_error"
    http_status = 500
    exit_code = 3


class DownloadError(HearthError):
    """A model could not be fetched (offline, hub error, package index error)."""

    code = "download_failed"
    http_status = 502
    exit_code = 4


class ChecksumMismatchError(DownloadError):
    """A downloaded or stored file does not have the catalog's SHA-256."""

    code = "checksum_mismatch"


class ContextOverflowError(HearthError):
    """The prompt plus the reserved reply does not fit the model's context window."""

    code = "context_length_exceeded"
    http_status = 400
    exit_code = 5

    def __init__(self, message: str, *, prompt_tokens: int, limit: int) -> None:
        super().__init__(message, param="messages")
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class EngineError(HearthError):
    """The inference engine failed to load a model or to decode."""

    code = "engine_error"
    http_status = 500
    exit_code = 6


class UnsupportedModelError(ModelFormatError):
    """A source model uses an architecture, tokenizer or feature the converter does not handle (names the
    supported ones)."""

    code = "unsupported_model"


class QuantizeError(HearthError):
    """Building a quantized model failed (converter, importance matrix, quantizer, evaluation or disk space)."""

    code = "quantize_failed"
    http_status = 500
    exit_code = 7


class AudioError(HearthError):
    """Audio input or output is unusable: an unreadable or unsupported WAV file, a malformed PCM stream."""

    code = "audio_error"
    http_status = 400
    exit_code = 8


class AudioDeviceError(AudioError):
    """No usable microphone or speaker (no PortAudio library, no device, or the device refused to open)."""

    code = "audio_device_unavailable"
    http_status = 503


class SpeechToolError(HearthError):
    """A speech component (wake word, VAD, speech-to-text, text-to-speech) is missing or failed."""

    code = "speech_tool_error"
    http_status = 500
    exit_code = 8


class HomeControlError(HearthError):
    """A home-automation backend (e.g. Home Assistant's REST API) refused, failed or timed out."""

    code = "home_control_failed"
    http_status = 502
    exit_code = 9


class CloudError(HearthError):
    """The cloud endpoint did not answer usefully: unreachable, past the deadline, erroring, a malformed reply, or
    its circuit breaker is open. `cause` is a short machine-readable reason (`connect`, `timeout`, `http_503`,
    `malformed`, `breaker_open`, ...)."""

    code = "cloud_unavailable"
    http_status = 503
    exit_code = 10

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class RequestCancelledError(HearthError):
    """The caller gave up (e.g. an HTTP client disconnected) before the work finished; nobody reads the answer."""

    code = "cancelled"
    http_status = 499  # nginx's "client closed request": never seen by that client
    exit_code = 130


class EngineBusyError(HearthError):
    """Too many requests already wait for the model; retry after `retry_after` seconds. Never a reason to escalate:
    the local model is healthy, only busy."""

    code = "queue_full"
    http_status = 429
    exit_code = 11

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
