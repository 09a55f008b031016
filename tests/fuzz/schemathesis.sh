#!/usr/bin/env bash
# API fuzzing of the real daemon with schemathesis (issue 5 item 4; docs/testing.md "API fuzzing").
#
# Starts `ao daemon` on a throw-away AO_HOME (its own tmux socket, a free loopback port, a dead
# GitHub endpoint, an empty HOME), registers a project `demo` with one live `command` session
# `demo-1` (data for schemathesis's stateful phase to find), then runs schemathesis against the
# daemon's own /api/v1/openapi.json with the bearer token and an allowed Origin. It fails unless:
#   * schemathesis reports no failure with every check but positive_data_acceptance (see
#     schemathesis.toml): no 5xx, every status documented, every body (errors included: the
#     envelope) and SSE event valid against the document, schema-invalid input refused with 4xx,
#     auth enforced, 405 with Allow for undocumented methods;
#   * the daemon still answers /healthz and /api/v1/status afterwards (no crash, no wedge);
#   * the daemon log holds neither the token nor a panic.
#
# Usage: tests/fuzz/schemathesis.sh [--budget SECONDS] [--seed N] [--bin PATH]
#   --budget  time budget of the schemathesis run (env AO_FUZZ_BUDGET, default 60; CI: 90,
#             by hand: 600 or more)
#   --seed    schemathesis seed (env AO_FUZZ_SEED, default 20260701)
#   --bin     the ao binary (env AO_FUZZ_BIN, default target/debug/ao; build it first with
#             `cargo build -p ao-cli --bin ao`)
# schemathesis is installed from PyPI into a venv under ${XDG_CACHE_HOME:-~/.cache}/ao-fuzz
# (override with AO_FUZZ_VENV) on first use; the version is pinned below so a seed replays.
# Needs python3 (with venv), git and tmux. The work dir (daemon log, reports) is kept on failure.
# Agent CLIs installed in /usr/local/bin or /opt/homebrew/bin make it refuse to run (fuzzed
# spawns would start them) unless AO_FUZZ_ALLOW_AGENTS=1.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
budget=${AO_FUZZ_BUDGET:-60}
seed=${AO_FUZZ_SEED:-20260701}
bin=${AO_FUZZ_BIN:-$repo_root/target/debug/ao}
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in python3 git tmux; do
  command -v "$tool" >/dev/null 2>&1 || { echo "schemathesis.sh: $tool is required" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "schemathesis.sh: $bin is missing: cargo build -p ao-cli --bin ao" >&2; exit 1; }
# Fuzzed spawns name real harnesses. The daemon gets an empty HOME and a PATH of only the dirs
# of sh, git and tmux, but it always searches /usr/local/bin and /opt/homebrew/bin: an agent
# CLI there would be launched for real (with random prompts), so refuse unless told otherwise.
found=()
for b in claude codex opencode grok cursor-agent qwen copilot kimi; do
  for d in /usr/local/bin /opt/homebrew/bin; do
    if [ -x "$d/$b" ]; then found+=("$d/$b"); fi
  done
done
if [ ${#found[@]} -gt 0 ] && [ "${AO_FUZZ_ALLOW_AGENTS:-0}" != 1 ]; then
  echo "schemathesis.sh: fuzzed spawns would start ${found[*]}; set AO_FUZZ_ALLOW_AGENTS=1 to run anyway" >&2
  exit 1
fi

# --- schemathesis, cached outside the repository -------------------------------------------
venv=${AO_FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ao-fuzz/venv}
st="$venv/bin/schemathesis"
if ! "$st" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- a throw-away home and daemon -----------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ao-fuzz.XXXXXX")
home="$work/home"
sock="ao-fuzz-$$"
daemon_pid=
keep=1
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  tmux -L "$sock" kill-server 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "schemathesis.sh: work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
dead_port=$(free_port) # nothing listens here: GitHub calls fail fast, never leave the machine

git init -q -b main "$work/repo"
git -C "$work/repo" -c user.name=fuzz -c user.email=fuzz@example.invalid commit -q --allow-empty -m init

# A clean environment: no AO_* or GitHub variables of the caller leak in, and neither do the
# caller's home (agent installs, ~/.tmux.conf, gh credentials) and PATH.
mkdir -p "$work/user"
daemon_path=$(for t in sh git tmux; do dirname "$(command -v "$t")"; done | awk '!seen[$0]++' | paste -sd:)
env -i PATH="$daemon_path" HOME="$work/user" USER="${USER:-fuzz}" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" \
  AO_HOME="$home" AO_PORT="$port" AO_TMUX_SOCKET="$sock" AO_LOG=info \
  AO_GITHUB_TOKEN=fuzz-not-a-token AO_GITHUB_API_URL="http://127.0.0.1:$dead_port" \
  "$bin" daemon >"$work/daemon.log" 2>&1 &
daemon_pid=$!

# The daemon's helper: waits for readiness, then seeds (python3: no curl/jq dependency).
python3 - "$home/running.json" "$work/repo" "$work/api.env" <<'PY'
import json, sys, time, urllib.request, urllib.error
run_file, repo, out = sys.argv[1:4]
deadline = time.time() + 60
while True:
    try:
        run = json.load(open(run_file))
        base = f"http://127.0.0.1:{run['port']}"
        with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
            if r.status == 200:
                break
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        pass
    if time.time() > deadline:
        sys.exit("schemathesis.sh: the daemon did not become ready within 60 s")
    time.sleep(0.1)
def call(method, path, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + run["token"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
call("POST", "/api/v1/projects", {"path": repo, "projectId": "demo"})
s = call("POST", "/api/v1/sessions",
         {"projectId": "demo", "harness": "command", "command": "sleep 3600"})["session"]
assert s["id"] == "demo-1", s
with open(out, "w") as f:
    f.write(f"port={run['port']}\ntoken={run['token']}\n")
PY
# shellcheck disable=SC1091
. "$work/api.env"
base="http://127.0.0.1:$port"
echo "daemon pid $daemon_pid on $base (home $home); schemathesis seed $seed, budget ${budget}s"

# --- the run ---------------------------------------------------------------------------------
# Settings (checks, timeouts, the operations left out and why) are in schemathesis.toml.
rc=0
"$st" --config-file "$repo_root/tests/fuzz/schemathesis.toml" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --header "Origin: $base" \
  --seed "$seed" \
  --max-time "$budget" \
  --no-color \
  --report junit --report-dir "$work/report" || rc=$?

# --- afterwards: still alive, nothing leaked -------------------------------------------------
python3 - "$base" "$token" <<'PY' || rc=1
import json, sys, urllib.request
base, token = sys.argv[1:3]
with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
    assert r.status == 200, r.status
req = urllib.request.Request(base + "/api/v1/status", headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(req, timeout=5) as r:
    status = json.load(r)
print(f"daemon still serving: {status['projects']} project(s), sessions {status['sessions']}, headSeq {status['headSeq']}")
PY
if ! kill -0 "$daemon_pid" 2>/dev/null; then
  echo "FAIL: the daemon exited during the run" >&2; rc=1
fi
if grep -qF "$token" "$work/daemon.log"; then
  echo "FAIL: the API token appears in the daemon log" >&2; rc=1
fi
if grep -q "panicked" "$work/daemon.log"; then
  echo "FAIL: the daemon log records a panic:" >&2; grep -m5 -A3 "panicked" "$work/daemon.log" >&2; rc=1
fi
if [ "$rc" = 0 ]; then
  keep=0
  echo "schemathesis: passed (seed $seed, budget ${budget}s)"
else
  echo "schemathesis: FAILED (seed $seed; replay with --seed $seed; daemon log $work/daemon.log)" >&2
fi
exit "$rc"
