#!/bin/bash
# One GitLab job the seed's way (the Python nspawn-runner): boot systemd in a container on an overlay
# copy of the chroot (`systemd-nspawn --boot`, in the background), wait until the boot is complete,
# run each stage's script in the booted container, then stop the container and remove the copy.
#
# It is a lower bound of the seed's cost: no Python interpreter per call, and each stage enters the
# container with nsenter instead of `systemd-run --machine --pipe --wait` through systemd-machined
# (which this host lacks).
#
# Called by tests/bench.sh with BENCH_SCRIPT and BENCH_WORK (see job-nspawn-runner.sh), and
# $1 = the chroot with systemd, $2 = label for the phase log.
set -u
chroot=$1 label=$2
id=$$
dir=$BENCH_WORK/boot/$id
name=bench-boot-$id
log=$BENCH_WORK/logs/$label-$id.log
stages=(prepare_script get_sources restore_cache download_artifacts build_script after_script archive_cache
        upload_artifacts_on_success cleanup_file_variables)
BOOT_TIMEOUT_S=60

exec 2>>"$log"
nspawn=
leader=

stop() {
        local watchdog
        [ -n "$nspawn" ] || return 0
        # What `machinectl terminate` does: SIGTERM to nspawn, which asks the container's systemd to
        # power off; give it 30 s before killing it.
        kill -TERM "$nspawn" 2>/dev/null
        (sleep 30 && kill -KILL "$nspawn") 2>/dev/null &
        watchdog=$!
        wait "$nspawn"
        kill "$watchdog" 2>/dev/null
        wait "$watchdog" 2>/dev/null
        nspawn=
}

fail() {
        echo "job $id: $1 failed" >&2
        stop
        rm -rf "$dir" "/run/systemd/nspawn/propagate/$name"
        exit 1
}

t0=$EPOCHREALTIME
# prepare: the seed's `prepare` started the machine with systemd-run; config is a no-op here.
mkdir -p "$dir/upper" || fail mkdir
systemd-nspawn --quiet --register=no --keep-unit --directory="$chroot" --overlay="$chroot:$dir/upper:/" \
        --machine="$name" --boot --console=passive --link-journal=no </dev/null >"$dir/nspawn.log" 2>&1 &
nspawn=$!
echo "$nspawn" > "$dir/nspawn.pid" # for the bench's cleanup, should this job be interrupted
t1=$t0 # no config step

# The container's PID 1, as the host sees it: the child of nspawn that is PID 1 in its namespace.
deadline=$((SECONDS + BOOT_TIMEOUT_S))
while [ -z "$leader" ]; do
        for c in $(cat /proc/"$nspawn"/task/*/children 2>/dev/null); do
                while read -ra f; do
                        [ "${f[0]}" = NSpid: ] && [ "${f[-1]}" = 1 ] && [ ${#f[@]} -gt 2 ] && leader=$c
                done 2>/dev/null <"/proc/$c/status"
        done
        [ -n "$leader" ] && break
        kill -0 "$nspawn" 2>/dev/null || fail "systemd-nspawn (see $dir/nspawn.log)"
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
        nsenter -t "$leader" -a /bin/bash -s "$s" <"$BENCH_SCRIPT" >/dev/null || fail "stage $s"
done
t3=$EPOCHREALTIME

# cleanup
stop
rm -rf "$dir"
t4=$EPOCHREALTIME

rm -rf "/run/systemd/nspawn/propagate/$name" # nspawn cannot on this host (/run is no tmpfs), see host-notes
rm -f "$log"
echo "$t0 $t1 $t2 $t3 $t4" >> "$BENCH_WORK/phases-$label.txt"
