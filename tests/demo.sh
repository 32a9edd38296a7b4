#!/bin/bash
# The main job, end to end: creates a small bookworm chroot (once; cached in tests/cache/) and runs a
# sample CI job through nspawn-runner exactly as gitlab-runner would call it — config, prepare, one
# call per stage, cleanup — then shows the job's log.
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
N=$PWD/$B/nspawn-runner
STATE=$PWD/tests/cache/state
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo)" >&2; exit 1; }

if [ ! -d "$STATE/bookworm" ]; then
        echo "demo: creating the bookworm chroot (about a minute, once)…"
        "$N" --state-dir "$STATE" chroot-create bookworm --include busybox
fi

TMPDIR=$(mktemp -d /tmp/custom-executorXXXXXX)
JOB_ID=$((RANDOM + 100000))
# The job's isolated network switches IPv4 forwarding on and loads the firewall table that a runner
# keeps while it runs jobs: the demo leaves the host as it found it (gc removes the table only when
# no isolated job of anyone's runs; forwarding was on already if one did).
FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
trap '"$N" --state-dir "$STATE" cleanup >/dev/null 2>&1 || true; "$N" --state-dir "$STATE" gc --threshold 0 >/dev/null 2>&1 || true
      echo "$FORWARD" >/proc/sys/net/ipv4/ip_forward; rm -rf "$TMPDIR"' EXIT

# What gitlab-runner puts into the environment of every call.
export TMPDIR BUILD_FAILURE_EXIT_CODE=1 SYSTEM_FAILURE_EXIT_CODE=2
export BUILD_EXIT_CODE_FILE=$TMPDIR/build_exit_code JOB_RESPONSE_FILE=$TMPDIR/response.json
export CUSTOM_ENV_CI_JOB_ID=$JOB_ID CUSTOM_ENV_CI_JOB_IMAGE=debian:bookworm
export CUSTOM_ENV_CI_PROJECT_DIR=/builds/demo/hello CUSTOM_ENV_CI_BUILDS_DIR=/builds
export NSPAWN_RUNNER_STATE_DIR=$STATE
echo '{"id": '"$JOB_ID"'}' >"$JOB_RESPONSE_FILE" && chmod 600 "$JOB_RESPONSE_FILE"
cd "$TMPDIR"

# A script shaped like the ones gitlab-runner writes for its bash shell.
stage_script() {
        local dir
        dir=$(mktemp -d "$TMPDIR/scriptXXXXXX")
        {
                echo '#!/usr/bin/env bash'
                echo "trap 'exit 1' TERM"
                echo 'set -o pipefail'
                echo 'set -o errexit'
                echo 'set +o noclobber'
                printf '( trap %q TERM; eval %q ) < /dev/null\n' 'exit 1' "$1"
                echo 'exit 0'
        } >"$dir/script"
        chmod 700 "$dir/script"
        echo "$dir/script"
}

section() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
# Each call in its own process group, like gitlab-runner; what it prints is the job's log.
call() { setsid --wait "$N" "$@"; }

section "nspawn-runner gitlab-config"
config=$(call gitlab-config)
echo "$config"
# gitlab-runner passes config's job_env (the machine key) to every later call of the job.
key=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("job_env", {}).get("NSPAWN_RUNNER_MACHINE", ""))' "$config")
[ -z "$key" ] || export NSPAWN_RUNNER_MACHINE=$key
section "nspawn-runner prepare"
call prepare
run_stage() {
        local stage=$1 body=$2 rc=0
        section "nspawn-runner run <script> $stage"
        call run "$(stage_script "$body")" "$stage" || rc=$?
        [ $rc -eq 0 ] || { echo "demo: stage $stage failed with exit status $rc" >&2; exit 1; }
}
run_stage prepare_script 'echo "Running on $(hostname), $(. /etc/os-release; echo $PRETTY_NAME)"'
run_stage get_sources 'mkdir -p /builds/demo/hello && cd /builds/demo/hello && git init -q -b main . &&
        printf "hello\nworld\n" > words.txt && git -c user.name=ci -c user.email=ci@example.org commit -qm init --allow-empty &&
        git log --oneline' 
run_stage build_script 'cd /builds/demo/hello && echo "words in words.txt: $(wc -w < words.txt)"
        mkdir -p /srv/www && echo "served from a background process" > /srv/www/index.html
        busybox httpd -p 127.0.0.1:18080 -h /srv/www && echo "started a web server for the next stage"'
run_stage after_script 'echo "the server still answers: $(busybox wget -qO- http://127.0.0.1:18080/)"'
run_stage archive_cache 'mkdir -p /cache/demo && date > /cache/demo/last-run && echo "cache written: $(cat /cache/demo/last-run)"'
section "nspawn-runner cleanup"
call cleanup

printf '\ndemo: job %s ran through the executor protocol in a fresh systemd-nspawn machine (image bookworm).\n' "$JOB_ID"
