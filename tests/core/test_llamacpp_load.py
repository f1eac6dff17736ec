"""The one llama.cpp loader and log hook: captures keep llama.cpp's lines without unhooking the engine's quiet log,
and a file llama.cpp refuses is a typed error that says why."""

from __future__ import annotations

import logging

import llama_cpp as L
import pytest

from assistant.engine.llamacpp_load import capture_log, load_model, model_params
from assistant.errors import EngineError


def test_model_params_keep_the_amx_buffers_off() -> None:
    params = model_params(n_gpu_layers=3, vocab_only=True)
    assert params.use_extra_bufts is False and params.n_gpu_layers == 3 and params.vocab_only is True


def test_a_capture_keeps_lines_and_the_quiet_log_stays(default_model_path, capfd, caplog) -> None:
    lines: list[str] = []
    with capture_log(lines.append) as captured:
        L.llama_model_free(load_model(default_model_path, vocab_only=True))
    assert captured.lines and list(captured.lines) == lines
    assert any("llama_model_loader" in line or "print_info" in line for line in lines)
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG, logger="hearth.llamacpp"):
        L.llama_model_free(load_model(default_model_path, vocab_only=True))
    assert capfd.readouterr().err == ""  # nothing on the terminal after the capture ended
    assert [r for r in caplog.records if r.name == "hearth.llamacpp"]  # still routed to Hearth's logger


def test_a_file_llama_cpp_refuses_is_an_engine_error(tmp_path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(EngineError, match="could not load"):
        load_model(bad)
