#!/usr/bin/env bash
# Is a wheel of this checkout a real install? Build it, check that it carries Hearth's data files, install it in a
# fresh virtual environment outside the checkout, and use it from there as a user would: `hearth models`,
# `hearth chat -p` (which downloads the default model into a fresh HEARTH_HOME) and `hearth serve` answering
# /health and one chat completion.
#   scripts/wheel_check.sh [WORKDIR]      (default: a new temporary folder, removed afterwards)
# Environment: PYTHON (default python3) builds the wheel and the environment.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
SERVER=""
KEEP=0
if [ -n "${1:-}" ]; then
    WORK="$1"
    KEEP=1
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-wheel.XXXXXX")"
fi
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in "$REPO"/*) echo "WORKDIR must be outside the checkout" >&2; exit 2 ;; esac
log() { printf '[wheel_check] %s\n' "$*" >&2; }
die() { printf '[wheel_check] error: %s\n' "$*" >&2; exit 1; }

rm -rf "$WORK/dist" "$WORK/venv" "$WORK/home"
"$PY" -m pip wheel --disable-pip-version-check -q --no-deps -w "$WORK/dist" "$REPO"
WHEEL="$(ls "$WORK"/dist/hearth-*.whl)"
log "built $(basename "$WHEEL")"
"$PY" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = ["assistant/catalog.toml", "assistant/devices/profiles.toml", "assistant/voice/home_example.toml",
          "assistant/escalation/data/calibration_stream.json", "assistant/escalation/data/calibration_complete.json",
          "server/__init__.py", "quantize/__init__.py"]
missing = [n for n in needed if n not in names]
if missing:
    sys.exit(f"[wheel_check] error: the wheel lacks {', '.join(missing)}")
PYEOF

"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --disable-pip-version-check -q "$WHEEL"
HEARTH="$WORK/venv/bin/hearth"
cd "$WORK"  # nothing of the checkout is importable from here
export HEARTH_HOME="$WORK/home" HEARTH_ENGINE_N_CTX=1024 PYTHONPATH=
where="$("$WORK/venv/bin/python" -c 'import assistant; print(assistant.__file__)')"
case "$where" in "$WORK/venv/"*) log "imports $where" ;; *) die "assistant imported from $where" ;; esac

COLUMNS=160 "$HEARTH" models
"$HEARTH" models --json > "$WORK/models.json"
grep -q '"id": "smollm2-135m-instruct"' "$WORK/models.json" || die "hearth models does not list the default model"
answer="$("$HEARTH" chat -p "What is the capital of France?" --max-tokens 16 --seed 1)"
[ -n "$answer" ] || die "hearth chat -p printed nothing"
log "hearth chat -p answered: $answer"

# One decode thread: with two, decoding slows down tenfold whenever the other core is busy (see tests/server).
"$HEARTH" serve --host 127.0.0.1 --port 0 --n-threads 1 > "$WORK/serve.log" 2>&1 &
SERVER=$!
"$WORK/venv/bin/python" - "$WORK/serve.log" "$SERVER" <<'PYEOF'
import os, re, sys, time
import httpx
log_path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 120
url = None
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("[wheel_check] error: hearth serve exited:\n" + open(log_path).read())
    if url is None:
        found = re.search(r"serving on (http://\S+)", open(log_path).read())
        url = found.group(1) if found else None
    if url is not None:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
    time.sleep(0.2)
else:
    sys.exit("[wheel_check] error: hearth serve did not become healthy:\n" + open(log_path).read())
r = httpx.post(url + "/v1/chat/completions", timeout=180, json={
    "model": "local", "max_tokens": 4, "messages": [{"role": "user", "content": "Say hi."}]})
if r.status_code != 200 or not r.json()["choices"][0]["message"]["content"]:
    sys.exit(f"[wheel_check] error: chat completion gave {r.status_code}: {r.text[:500]}")
print(f"[wheel_check] hearth serve at {url}: /health 200, chat completion 200", file=sys.stderr)
PYEOF
log "the wheel works outside the checkout"
