#!/usr/bin/env bash
# Install what the test suite needs and run it: the README's test command, and what CI runs.
#   - Debian packages for the voice tests (espeak-ng, sox), when missing and we may install them
#   - Hearth with its test extras (compiles llama-cpp-python on first install: a few minutes)
#   - the embedded default model and the speech models (Whisper base, Piper voice) into the store
#     ($HEARTH_HOME, default ~/.cache/hearth)
# then: python -m pytest in HEARTH_TEST_WORKERS pytest-xdist workers (default 2; 0 runs in this one process),
# each test module in one worker; extra arguments are passed on. Two workers with one llama.cpp thread each finish
# the suite about a quarter sooner on two cores than one process with two threads: much of a test's time is a
# child process starting, a server coming up, a client waiting (tests/threads.py gives each worker its threads).
# Environment: PYTHON (default python3), HEARTH_TEST_EXTRAS (default `test`, everything; CI's Python 3.10 run
# uses voice,quantize,devices,test-tools: torch's CPU build is not to be had there, and the tests that need it skip).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in espeak-ng sox chromium; do
    command -v "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "missing Debian packages: ${need_apt[*]} (install them, e.g. apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" libespeak-ng1 >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -m pip install --disable-pip-version-check -q -e ".[${HEARTH_TEST_EXTRAS:-test}]"
"$PY" -m assistant.cli pull smollm2-135m-instruct >/dev/null
# Speech models for the voice tests (a no-op once installed; without them those tests skip and say why).
for speech in whisper-base piper-joe-medium; do
    "$PY" -m assistant.cli pull "$speech" >/dev/null || echo "warning: could not pull $speech; its voice tests will skip" >&2
done
exec "$PY" -m pytest -n "${HEARTH_TEST_WORKERS:-2}" --dist loadfile "$@"
