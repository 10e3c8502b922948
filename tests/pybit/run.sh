#!/usr/bin/env bash
# pybit conformance: the official Bybit Python SDK (pinned in requirements.txt) against a fresh
# bybit-emulator. Builds the emulator, keeps a venv in target/pybit-venv (rebuilt only when
# requirements.txt or the Python version changes), starts the emulator on a free port, runs
# conformance.py, then conditional.py, then trade.py (order entry over /v5/trade with pybit's
# WebSocketTrading), then orderbook.py (a minute of pybit's orderbook_stream on a moving
# market), and always stops the emulator. Exits non-zero when any fails.
#
# Network: PyPI only, and only when the venv has to be (re)built.
# Environment: CARGO_TARGET_DIR is honoured (cargo tells where the binary went);
# PYTHON picks the interpreter (default python3); PYBIT_VENV moves the venv;
# PYBIT_EMULATOR_BIN runs that binary instead of building one; PYBIT_READY_TIMEOUT (s, 60);
# PYBIT_NO_VENV=1 skips `python -m venv` and installs with `pip --target` (what the script
# falls back to when venv/ensurepip is missing); PYBIT_CONFORMANCE_VERBOSE=1 prints tracebacks.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
venv="${PYBIT_VENV:-$root/target/pybit-venv}"
requirements="$here/requirements.txt"
ready_timeout_s="${PYBIT_READY_TIMEOUT:-60}"

say() { printf 'pybit: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$python" >/dev/null || die "$python not found (Python 3.11 with pip is needed)"

# ---------------------------------------------------------------- the Python environment

# The venv is keyed on the requirements and the interpreter, so a change to either rebuilds it.
wanted_key="$(
    {
        cat "$requirements"
        "$python" -c 'import sys; print(sys.version)'
        printf 'no-venv=%s\n' "${PYBIT_NO_VENV:-0}"
    } | "$python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
)"
key_file="$venv/.requirements.sha256"

# pip_install PYTHON [extra pip-install arguments...]
pip_install() {
    # --no-deps: requirements.txt pins the whole tree, so nothing unpinned can slip in.
    "$1" -m pip install --disable-pip-version-check --no-input --quiet --no-deps \
        -r "$requirements" "${@:2}"
}

build_venv() {
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if [[ "${PYBIT_NO_VENV:-0}" != 1 ]] && "$python" -m venv "$venv" >/dev/null 2>&1 \
        && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        say "installing $(grep -m1 '^pybit==' "$requirements") into $venv"
        pip_install "$venv/bin/python"
        "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null \
            || die "the pinned requirements are inconsistent (pip check failed)"
    else
        # No usable venv module (e.g. ensurepip missing): install into a plain directory with
        # the interpreter's own pip and put it on PYTHONPATH.
        rm -rf "$venv"
        say "python -m venv unavailable or skipped; installing with pip --target into $venv/site"
        mkdir -p "$venv/site"
        pip_install "$python" --target "$venv/site"
    fi
    printf '%s\n' "$wanted_key" >"$key_file"
}

if [[ -f "$key_file" && "$(cat "$key_file")" == "$wanted_key" ]]; then
    say "reusing $venv"
else
    build_venv
fi

if [[ -x "$venv/bin/python" ]]; then
    venv_python=("$venv/bin/python")
else
    venv_python=(env "PYTHONPATH=$venv/site${PYTHONPATH:+:$PYTHONPATH}" "$python")
fi
"${venv_python[@]}" -c 'import pybit.unified_trading' \
    || die "pybit does not import from $venv (delete it and rerun)"

# ---------------------------------------------------------------- the emulator

# Builds the emulator and prints the binary's path; cargo reports where it put it, wherever
# CARGO_TARGET_DIR or cargo config sends it.
build_emulator() {
    local path
    path="$(
        cargo build -p bybit-emulator --bin bybit-emulator --message-format=json-render-diagnostics \
            | "$python" -c '
import json, sys
path = ""
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
            and msg.get("target", {}).get("name") == "bybit-emulator"):
        path = msg["executable"]
print(path)
'
    )" || return 1
    if [[ -z "$path" ]]; then
        local target_dir="${CARGO_TARGET_DIR:-$root/target}"
        [[ "$target_dir" == /* ]] || target_dir="$root/$target_dir"
        path="$target_dir/debug/bybit-emulator"
    fi
    printf '%s\n' "$path"
}

if [[ -n "${PYBIT_EMULATOR_BIN:-}" ]]; then
    emulator="$PYBIT_EMULATOR_BIN"
    say "using $emulator (PYBIT_EMULATOR_BIN; not building)"
else
    say "building bybit-emulator"
    emulator="$(build_emulator)" || die "cargo build -p bybit-emulator failed"
fi
[[ -x "$emulator" ]] || die "no emulator binary at $emulator"

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pybit-conformance.XXXXXX")"
emulator_pid=""
cleanup() {
    local status=$?
    if [[ -n "$emulator_pid" ]] && kill -0 "$emulator_pid" 2>/dev/null; then
        kill "$emulator_pid" 2>/dev/null || true
        # SIGTERM stops it gracefully within 3 s; give it up to 5, then make sure.
        for _ in $(seq 50); do
            kill -0 "$emulator_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh key pair per run; the secret is never printed (it is passed to the emulator as its
# documented --api-secret flag and to the script through the environment).
api_key="pybit-$("$python" -c 'import secrets; print(secrets.token_hex(6))')"
api_secret="$("$python" -c 'import secrets; print(secrets.token_hex(24))')"

say "starting $emulator"
: >"$workdir/stdout"
: >"$workdir/stderr"
"$emulator" --listen 127.0.0.1:0 --api-key "$api_key" --api-secret "$api_secret" --usdt 10000 --seed 1 \
    >"$workdir/stdout" 2>"$workdir/stderr" </dev/null &
emulator_pid=$!

base_url=""
deadline=$((SECONDS + ready_timeout_s))
while [[ -z "$base_url" ]]; do
    if line="$(grep -m1 -E '^listening on http://127\.0\.0\.1:[0-9]+$' "$workdir/stdout")"; then
        base_url="${line#listening on }"
        break
    fi
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        say "the emulator exited before it was ready; its output:"
        cat "$workdir/stdout" "$workdir/stderr" >&2 || true
        die "bybit-emulator did not start"
    fi
    if ((SECONDS >= deadline)); then
        say "no 'listening on http://127.0.0.1:<port>' line within ${ready_timeout_s}s; output so far:"
        cat "$workdir/stdout" "$workdir/stderr" >&2 || true
        die "bybit-emulator did not become ready"
    fi
    sleep 0.1
done
say "emulator ready at $base_url"

status=0
BYBIT_EMULATOR_URL="$base_url" \
    BYBIT_EMULATOR_API_KEY="$api_key" \
    BYBIT_EMULATOR_API_SECRET="$api_secret" \
    "${venv_python[@]}" "$here/conformance.py" || status=$?
# Conditional orders' statuses on the private stream; runs after conformance.py,
# which needs a fresh emulator, on the same one.
BYBIT_EMULATOR_URL="$base_url" \
    BYBIT_EMULATOR_API_KEY="$api_key" \
    BYBIT_EMULATOR_API_SECRET="$api_secret" \
    "${venv_python[@]}" "$here/conditional.py" || status=$?
# pybit's WebSocketTrading places, amends and cancels over /v5/trade on the same emulator.
BYBIT_EMULATOR_URL="$base_url" \
    BYBIT_EMULATOR_API_KEY="$api_key" \
    BYBIT_EMULATOR_API_SECRET="$api_secret" \
    "${venv_python[@]}" "$here/trade.py" || status=$?
# pybit's orderbook_stream on the same emulator for a minute (ORDERBOOK_SECONDS to change).
BYBIT_EMULATOR_URL="$base_url" \
    BYBIT_EMULATOR_API_KEY="$api_key" \
    BYBIT_EMULATOR_API_SECRET="$api_secret" \
    "${venv_python[@]}" "$here/orderbook.py" || status=$?

if ((status != 0)) && [[ -s "$workdir/stderr" ]]; then
    say "emulator stderr (last 40 lines):"
    tail -n 40 "$workdir/stderr" >&2 || true
fi
exit "$status"
