#!/usr/bin/env bash
# The example state machine against `bybit-exec serve --nats` on the emulator, as the README
# describes it: starts nats-server -js, the emulator (`bybit-exec emulator`) and one `serve
# --nats` holder on free loopback ports, runs state_machine.py (an entry with a take-profit,
# then a close), and stops them all. Exits non-zero if the example fails.
#
# Needs nats-server (Debian's package; .ci/run installs it) and Python 3.11 with pip: nats-py
# (pinned in requirements.txt) goes into a venv under the target directory, rebuilt only when
# requirements.txt or the interpreter changes. Network: PyPI only, and only then.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="$target_dir/nats-example-venv"
say() { printf 'nats example: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

nats_server="$(command -v nats-server || true)"
[[ -n "$nats_server" ]] || { [[ -x /usr/sbin/nats-server ]] && nats_server=/usr/sbin/nats-server; }
[[ -n "$nats_server" ]] || die "nats-server not found (Debian: apt-get install nats-server)"

key="$(cat "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)')"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.key" 2>/dev/null)" != "$key" ]]; then
    say "installing nats-py into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$here/requirements.txt"
    printf '%s' "$key" >"$venv/.key"
fi

say "building bybit-exec"
cargo build -q -p bybit-exec --bin bybit-exec
bin="$target_dir/debug/bybit-exec"

work="$(mktemp -d "${TMPDIR:-/tmp}/nats-example.XXXXXX")"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((status != 0)); then
        for log in "$work"/*.log; do say "--- $log"; tail -n 20 "$log" >&2 || true; done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# wait_for FILE PATTERN: the first line of FILE matching PATTERN, within 60 s.
wait_for() {
    local deadline=$((SECONDS + 60)) line
    while ((SECONDS < deadline)); do
        if line="$(grep -m1 -E "$2" "$1" 2>/dev/null)"; then
            printf '%s\n' "$line"
            return 0
        fi
        sleep 0.1
    done
    die "no line matching '$2' in $1 within 60 s"
}

"$nats_server" -js -a 127.0.0.1 -p -1 -sd "$work/jetstream" >"$work/nats.log" 2>&1 &
pids+=($!)
nats_port="$(wait_for "$work/nats.log" 'Listening for client connections on' | sed -E 's/.*:([0-9]+)$/\1/')"
nats_url="nats://127.0.0.1:$nats_port"
say "nats-server at $nats_url"

"$bin" emulator --listen 127.0.0.1:0 >"$work/emulator.out" 2>"$work/emulator.log" &
pids+=($!)
wait_for "$work/emulator.out" '^export BYBIT_API_SECRET=' >/dev/null
# The emulator's own export lines point serve at it (URLs and its test keys).
set -a
# shellcheck disable=SC1090
. <(sed -n 's/^export //p' "$work/emulator.out")
set +a

EXECUTION_ROUTING=live EXECUTION_JOURNAL="$work/journal.sqlite" EXECUTION_ERROR_LOG=none \
    "$bin" serve --listen 127.0.0.1:0 --nats "$nats_url" --account demo \
    >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
wait_for "$work/serve.out" 'holds account demo' >&2

"$venv/bin/python" "$here/state_machine.py" --nats "$nats_url" --account demo --tag example1 \
    --tp 99000:1 --close
