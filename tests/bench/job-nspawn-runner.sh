#!/bin/bash
# One GitLab job as gitlab-runner drives nspawn-runner: gitlab-config, prepare, one run per stage of a
# script that is just `true`, cleanup. Called by tests/bench.sh (through tests/bench/single.py or
# tests/bench/concurrent.py) with:
#   BENCH_RUNNER  the nspawn-runner binary      BENCH_SCRIPT  the stage script
#   BENCH_WORK    the bench's scratch directory (jobs/, logs/, phases-*.txt)
# and $1 = state directory, $2 = storage backend (overlay, btrfs, …), $3 = label for the phase log.
# The job id is this shell's PID: unique among the jobs running at the same time.
set -u
state=$1 storage=$2 label=$3
id=$$
log=$BENCH_WORK/logs/$label-$id.log
stages=(prepare_script get_sources restore_cache download_artifacts build_script after_script archive_cache
        upload_artifacts_on_success cleanup_file_variables)

export CUSTOM_ENV_CI_JOB_ID=$id CUSTOM_ENV_CI_JOB_IMAGE=debian:bookworm
# The network mode: isolated for the isolated rows, the host's (the bench's own namespace) otherwise.
case $label in isolated*) export NSPAWN_RUNNER_CONFIG_DIR=$BENCH_WORK/conf-isolated ;;
*) export NSPAWN_RUNNER_CONFIG_DIR=$BENCH_WORK/conf-host ;; esac
echo "$state" > "$BENCH_WORK/jobs/$id" # for the bench's cleanup, should this job be interrupted
exec 2>>"$log"

fail() {
        trap - EXIT
        echo "job $id: $1 failed" >&2
        "$BENCH_RUNNER" --state-dir "$state" cleanup >/dev/null
        rm -f "$BENCH_WORK/jobs/$id"
        exit 1
}

finished=
trap '[ -n "$finished" ] || fail "the job script (exited unexpectedly)"' EXIT

t0=$EPOCHREALTIME
"$BENCH_RUNNER" --state-dir "$state" gitlab-config >/dev/null || fail gitlab-config
t1=$EPOCHREALTIME
"$BENCH_RUNNER" --state-dir "$state" prepare --storage "$storage" >/dev/null || fail prepare
t2=$EPOCHREALTIME
for s in "${stages[@]}"; do
        "$BENCH_RUNNER" --state-dir "$state" run "$BENCH_SCRIPT" "$s" >/dev/null || fail "run $s"
done
t3=$EPOCHREALTIME
"$BENCH_RUNNER" --state-dir "$state" cleanup >/dev/null || fail cleanup
t4=$EPOCHREALTIME

rm -f "$BENCH_WORK/jobs/$id" "$log"
echo "$t0 $t1 $t2 $t3 $t4" >> "$BENCH_WORK/phases-$label.txt"
finished=1
