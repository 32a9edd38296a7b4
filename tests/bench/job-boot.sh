#!/bin/bash
# One GitLab job the seed's way (the Python nspawn-runner): boot systemd in a container on an overlay
# copy of the chroot (`systemd-nspawn --boot`, in the background), wait until the boot is complete,
# run each stage's script in the booted container, then stop the container and remove the copy.
#
# It is a lower bound of the seed's cost: no Python interpreter per call, and each stage enters the
# container with nsenter instead of `systemd-run --machine --pipe --wait` through systemd-machined
# (which this host lacks).
#
# Each container gets its own cgroup, as the seed's systemd-run unit gave it: nspawn --keep-unit runs
# the container in nspawn's own cgroup, and booted systemds sharing one cgroup tree trip over each
# other's units (on this host, with 32 at once, now and then one fails to power off: "Failed to attach
# to cgroup /system.slice/systemd-halt.service").
#
# With $3 = seed, each of the job's 12 calls (config, prepare, 9 stages, cleanup) also starts
# Debian's python3 with the modules the seed imports, as the seed, a Python program, does: the
# seed's way as far as this host can run it (stages still use nsenter, not systemd-run --machine).
#
# Called by tests/bench.sh with BENCH_SCRIPT, BENCH_WORK (see job-nspawn-runner.sh) and
# BENCH_CGROUPS (the bench's cgroup directories in the cgroup2 and name=systemd hierarchies,
# space-separated), and $1 = the chroot with systemd, $2 = label for the phase log, $3 = boot or seed.
set -u
chroot=$1 label=$2 mode=${3:-boot}
seed_call() {
        [ "$mode" = seed ] || return 0
        /usr/bin/python3 -c 'import argparse, logging, subprocess, tempfile, json, os, sys, shlex, shutil
try:
    import yaml
except ImportError:
    pass'
}
id=$$
dir=$BENCH_WORK/boot/$id
name=bench-boot-$id
log=$BENCH_WORK/logs/$label-$id.log
stages=(prepare_script get_sources restore_cache download_artifacts build_script after_script archive_cache
        upload_artifacts_on_success cleanup_file_variables)
BOOT_TIMEOUT_S=60
STOP_TIMEOUT_S=30

exec 2>>"$log"
nspawn=
leader=

stop() {
        local watchdog t=$SECONDS
        [ -n "$nspawn" ] || return 0
        # What `machinectl terminate` does: SIGTERM to nspawn, which asks the container's systemd to
        # power off. Past 30 s, SIGKILL to the container's PID 1 (and so to all of it: a SIGKILLed nspawn
        # would leave it behind), then to nspawn.
        kill -TERM "$nspawn" 2>/dev/null
        (
                trap 'kill "$timer" 2>/dev/null; exit 0' TERM
                sleep $STOP_TIMEOUT_S &
                timer=$!
                wait "$timer" && { [ -z "$leader" ] || kill -KILL "$leader"; kill -KILL "$nspawn"; }
        ) 2>/dev/null &
        watchdog=$!
        wait "$nspawn"
        kill "$watchdog" 2>/dev/null
        wait "$watchdog" 2>/dev/null
        nspawn=
        if [ $((SECONDS - t)) -ge $STOP_TIMEOUT_S ]; then
                echo "note: job $id: the container did not power off within $STOP_TIMEOUT_S s: killed" >&2
                tail -n 8 "$dir/nspawn.log" | sed 's/^/  nspawn: /' >&2
        fi
}

# The job's cgroups, made and removed around the container.
cgroups_make() {
        local c
        for c in ${BENCH_CGROUPS:-}; do
                mkdir "$c/$name" || return 1
        done
}
cgroups_remove() {
        local c
        for c in ${BENCH_CGROUPS:-}; do
                [ -d "$c/$name" ] || continue
                for _ in 1 2 3 4 5 6 7 8 9 10; do # the last processes may still be exiting
                        find "$c/$name" -depth -type d -exec rmdir {} + 2>/dev/null && break
                        sleep 0.01
                done
                [ ! -d "$c/$name" ] || echo "note: job $id: cannot remove cgroup $c/$name" >&2
        done
}

fail() {
        trap - EXIT
        echo "job $id: $1 failed" >&2
        stop
        [ -f "$dir/nspawn.log" ] && tail -n 15 "$dir/nspawn.log" | sed 's/^/  nspawn: /' >&2
        cgroups_remove
        rm -rf "$dir" "/run/systemd/nspawn/propagate/$name"
        exit 1
}

finished=
trap '[ -n "$finished" ] || fail "the job script (exited unexpectedly)"' EXIT

t0=$EPOCHREALTIME
seed_call # config
t1=$EPOCHREALTIME
# prepare: the seed's `prepare` started the machine with systemd-run.
seed_call
mkdir -p "$dir/upper" || fail mkdir
cgroups_make || fail "making cgroups"
(
        for c in ${BENCH_CGROUPS:-}; do
                echo "$BASHPID" > "$c/$name/cgroup.procs" || exit 1
        done
        exec systemd-nspawn --quiet --register=no --keep-unit --directory="$chroot" --overlay="$chroot:$dir/upper:/" \
                --machine="$name" --boot --console=passive --link-journal=no
) </dev/null >"$dir/nspawn.log" 2>&1 &
nspawn=$!
echo "$nspawn" > "$dir/nspawn.pid" # for the bench's cleanup, should this job be interrupted

# The container's PID 1, as the host sees it: the child of nspawn that is PID 1 in its namespace.
deadline=$((SECONDS + BOOT_TIMEOUT_S))
while [ -z "$leader" ]; do
        # shellcheck disable=SC2013 # PIDs, space-separated
        for c in $(cat /proc/"$nspawn"/task/*/children 2>/dev/null); do
                while read -ra f; do
                        [ ${#f[@]} -gt 2 ] && [ "${f[0]}" = NSpid: ] && [ "${f[-1]}" = 1 ] && leader=$c
                done 2>/dev/null <"/proc/$c/status"
        done
        [ -n "$leader" ] && break
        kill -0 "$nspawn" 2>/dev/null || fail "systemd-nspawn"
        [ $SECONDS -lt $deadline ] || fail "finding the container's init"
        sleep 0.005
done
echo "$leader" > "$dir/leader.pid"

# A job can only start once the boot is complete.
while :; do
        st=$(nsenter -t "$leader" -m -u -i -n -p systemctl is-system-running 2>/dev/null)
        case $st in
        running | degraded) break ;;
        esac
        [ $SECONDS -lt $deadline ] || fail "boot (state '$st' after $BOOT_TIMEOUT_S s)"
        sleep 0.01
done
t2=$EPOCHREALTIME

for s in "${stages[@]}"; do
        seed_call
        nsenter -t "$leader" -a /bin/bash -s "$s" <"$BENCH_SCRIPT" >/dev/null || fail "stage $s"
done
t3=$EPOCHREALTIME

# cleanup
seed_call
stop
cgroups_remove
rm -rf "$dir"
t4=$EPOCHREALTIME

rm -rf "/run/systemd/nspawn/propagate/$name" # when nspawn could not (see host-notes); not timed
[ -s "$log" ] || rm -f "$log" # keep the notes
echo "$t0 $t1 $t2 $t3 $t4" >> "$BENCH_WORK/phases-$label.txt"
finished=1
