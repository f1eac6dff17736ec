#!/usr/bin/env bash
# Install what the test suite needs and run it: the README's test command, and what CI runs.
#   - Debian packages for the voice tests (espeak-ng, sox), when missing and we may install them
#   - Hearth with its test extras (compiles llama-cpp-python on first install: a few minutes)
#   - the embedded default model into the store ($HEARTH_HOME, default ~/.cache/hearth)
# then: python -m pytest (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in espeak-ng sox; do
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
"$PY" -m pip install --disable-pip-version-check -q -e ".[test]"
"$PY" -m assistant.cli pull smollm2-135m-instruct >/dev/null
exec "$PY" -m pytest "$@"
