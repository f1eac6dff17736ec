"""Hearth's offline voice pipeline: wake word -> voice activity -> speech-to-text -> intent or assistant -> TTS.

One small module per stage, each behind one interface (a Protocol): `wake.WakeWordDetector`,
`vad.VoiceActivityDetector`, `asr.SpeechRecognizer`, `tts.Synthesizer`, `executors.IntentExecutor`.
`stack.build_stack` wires the engines chosen in `VoiceSettings`; `pipeline.VoicePipeline` runs them on a stream of
16 kHz 16-bit mono PCM; `wyoming_server` exposes the same stages to Home Assistant over the Wyoming protocol.
"""
