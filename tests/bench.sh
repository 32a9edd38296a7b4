#!/bin/bash
# make bench: the job overhead of nspawn-runner next to the boot-style way of the seed (the Python
# nspawn-runner), on the same chroot, in one run. Usage: tests/bench.sh [BUILD_DIR]
#
# A job is what gitlab-runner asks of the executor: gitlab-config, prepare, one run per stage (the
# nine stages of a plain job, each a script that runs `true`), cleanup. Measured:
#   - one job at a time, the methods interleaved round by round (a burst of load from elsewhere then
#     hits them alike): nspawn-runner on overlayfs over the host's filesystem, nspawn-runner on a
#     snapshot in a loop-mounted btrfs, and the boot-style way (tests/bench/job-boot.sh);
#   - 8 and 32 jobs started at once, each a full job;
#   - a job that installs packages with dpkg -i, with --suppress-sync (the default) and without,
#     interleaved (tests/bench/dpkg-install.py).
# Needs root. The chroots are cached under tests/cache/ (the first run makes them: about a minute for
# the shared test chroot, 15 s for the boot-style one); then the bench takes 30 to 50 s. Everything it starts or mounts goes away at the end, also on failure
# or Ctrl-C.
#
# Environment: BENCH_RUNS (single-job rounds, default 10), BENCH_NO_BTRFS=1 to skip the btrfs backend,
# BENCH_DPKG_RUNS (rounds of the dpkg job, default 5), BENCH_DPKG=tiny (built packages instead of the
# image's cached ones).
# BENCH_SMOKE=1 (make check): one round without warm-up, 8 nspawn-runner jobs at once and one round of
# the dpkg job with tiny packages, to show that the bench still works; its figures mean nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
RUNNER=$B/nspawn-runner
CACHE=$ROOT/tests/cache
CHROOT=$CACHE/state/bookworm
BOOT_CHROOT=$CACHE/boot/bookworm-systemd
BENCH=$ROOT/tests/bench
RUNS=${BENCH_RUNS:-10}
DPKG_RUNS=${BENCH_DPKG_RUNS:-5}
WARMUP=1
CONC_JOBS=(8 32)
SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
        DPKG_RUNS=1 BENCH_DPKG=tiny
        export BENCH_DPKG
        RUNS=1 WARMUP=0 CONC_JOBS=(8)
fi
SMOKE_SKIPS=()
[ "$SMOKE" = 0 ] || SMOKE_SKIPS=(--skip overlay32=BENCH_SMOKE=1 --skip btrfs32=BENCH_SMOKE=1)
CONC_TIMEOUT_S=240

say() { echo "bench: $*" >&2; }
# Jobs run in a network namespace of their own (loopback only): the isolated jobs' veths, nft tables
# and forwarding are made there, not on the host, and no job can send a packet anywhere.
in_netns() { unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (systemd-nspawn, mounts)."
[ -x "$RUNNER" ] || die "no $RUNNER: run make first."
for t in systemd-nspawn nsenter python3 systemctl losetup findmnt; do
        command -v $t >/dev/null || die "$t is missing (make setup installs it)."
done
case $ROOT in *[,:\\]*) die "the repository's path $ROOT has a character overlayfs cannot take (',', ':' or '\\')." ;; esac

START=$SECONDS
WORK=
WORK_EXTRA= # a chroot being made
INOTIFY_SAVED= # fs.inotify.max_user_instances before the bench raised it
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BTRFS_MNT=
BTRFS_LOOP=

# Every booted container's systemd takes several inotify instances, all counted against root: with
# Debian's default of 128, a fifth of 32 boot-style jobs hang in early boot ("Failed to create inotify
# object: Too many open files"). A host running the seed's way with 32 jobs needs more; so does the
# bench, for as long as it runs them.
INOTIFY_WANT=2048
inotify_raise() {
        local cur
        cur=$(sysctl -n fs.inotify.max_user_instances)
        [ "$cur" -lt $INOTIFY_WANT ] || return 0
        INOTIFY_SAVED=$cur
        sysctl -q -w fs.inotify.max_user_instances=$INOTIFY_WANT
        inotify_note="fs.inotify.max_user_instances raised from $cur to $INOTIFY_WANT for the boot-style jobs at once (at $cur, some of 32 booted containers hang in early boot), restored afterwards."
}
inotify_restore() {
        [ -n "$INOTIFY_SAVED" ] || return 0
        sysctl -q -w fs.inotify.max_user_instances="$INOTIFY_SAVED"
        INOTIFY_SAVED=
}

# The bench's own cgroup directories in the hierarchies systemd uses (cgroup2, and name=systemd on a
# hybrid host like this one): each boot-style container gets a cgroup below them (job-boot.sh).
bench_cgroups() {
        local ctrl path mnt
        while IFS=: read -r _ ctrl path; do
                case $ctrl in
                "") mnt=$(findmnt -n -t cgroup2 -o TARGET | head -n 1) ;;
                name=systemd) mnt=$(findmnt -n -t cgroup -o TARGET,OPTIONS | awk '/name=systemd/ { print $1; exit }') ;;
                *) continue ;;
                esac
                [ -n "$mnt" ] && [ -d "$mnt$path" ] && echo "${mnt}${path%/}"
        done </proc/self/cgroup
}

# ---- cleanup, also on failure and Ctrl-C --------------------------------------------------------

cleanup() {
        local rc=$? f pid id deadline c
        trap - EXIT INT TERM HUP
        set +e
        [ -z "$WORK_EXTRA" ] || rm -rf "$WORK_EXTRA"
        inotify_restore
        [ -n "$WORK" ] && [ -d "$WORK" ] || return $rc
        # Jobs interrupted half-way: stop their processes first, then what they made.
        for f in "$WORK"/jobs/*; do
                [ -e "$f" ] && kill -TERM "${f##*/}" 2>/dev/null
        done
        for f in "$WORK"/boot/*/leader.pid; do
                [ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
        done
        for f in "$WORK"/boot/*/nspawn.pid; do
                [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
        done
        deadline=$((SECONDS + 10))
        for f in "$WORK"/jobs/* "$WORK"/boot/*/nspawn.pid; do
                [ -e "$f" ] || continue
                case $f in */nspawn.pid) pid=$(cat "$f") ;; *) pid=${f##*/} ;; esac
                while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
                kill -KILL "$pid" 2>/dev/null
        done
        for f in "$WORK"/state/.machines/* ${BTRFS_MNT:+"$BTRFS_MNT"/state/.machines/*}; do
                [ -d "$f" ] || continue
                id=${f##*/}
                "$RUNNER" --state-dir "${f%/.machines/*}" cleanup --id "$id" >/dev/null ||
                        say "could not clean up machine $id ($f)"
        done
        for f in "$WORK"/boot/*; do
                [ -d "$f" ] || continue
                rm -rf "/run/systemd/nspawn/propagate/bench-boot-${f##*/}"
                for c in ${BENCH_CGROUPS:-}; do
                        [ ! -d "$c/bench-boot-${f##*/}" ] || find "$c/bench-boot-${f##*/}" -depth -type d -exec rmdir {} + ||
                                say "could not remove cgroup $c/bench-boot-${f##*/}"
                done
        done
        if [ -n "$BTRFS_MNT" ] && mountpoint -q "$BTRFS_MNT"; then
                umount "$BTRFS_MNT" || umount -l "$BTRFS_MNT"
        fi
        [ -n "$BTRFS_LOOP" ] && losetup -d "$BTRFS_LOOP" 2>/dev/null
        rm -rf "$WORK"
        [ $rc = 0 ] || say "failed (exit $rc); cleaned up."
        return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- chroots ------------------------------------------------------------------------------------

ensure_chroot() {
        [ -d "$CHROOT/usr" ] && return 0
        say "creating the shared test chroot $CHROOT (about a minute)…"
        # The same as tests/integration/run.py makes: whichever runs first makes it for both.
        "$RUNNER" --state-dir "$CACHE/state" chroot-create bookworm --suite bookworm --include busybox,python3 >&2
}

# The seed's chroot: the same minbase, plus systemd and dbus to boot; dbus and logind masked, which
# makes booting reliable on this host (tests/cache/boot/bookworm-systemd).
ensure_boot_chroot() {
        local tmp f binds=()
        [ -x "$BOOT_CHROOT/lib/systemd/systemd" ] && return 0
        say "creating the boot-style chroot $BOOT_CHROOT (about 15 s)…"
        mkdir -p "${BOOT_CHROOT%/*}"
        tmp=$BOOT_CHROOT.tmp.$$
        rm -rf "$BOOT_CHROOT" "$tmp"
        WORK_EXTRA=$tmp
        # The image is a symlink to its current generation (.images/bookworm/N): copy what it names.
        cp -a --reflink=auto "$(readlink -f "$CHROOT")" "$tmp"
        # apt in the chroot reads the host's sources (its mirror) as they are now; nothing is copied.
        for f in /etc/apt/sources.list /etc/apt/sources.list.d; do
                [ ! -e "$f" ] || binds+=(--bind-ro="$f")
        done
        systemd-nspawn --quiet --register=no --keep-unit --directory="$tmp" --console=pipe "${binds[@]}" -- /bin/sh -c \
                'export DEBIAN_FRONTEND=noninteractive
                 apt-get update -q && apt-get install -y -q --no-install-recommends systemd dbus && apt-get clean' \
                </dev/null >"$WORK/logs/boot-chroot.log" 2>&1 ||
                { tail -20 "$WORK/logs/boot-chroot.log" >&2; die "installing systemd in the boot-style chroot failed."; }
        rm -rf "$tmp"/var/lib/apt/lists/* "/run/systemd/nspawn/propagate/${tmp##*/}"
        systemctl --root="$tmp" --quiet mask dbus.service dbus.socket systemd-logind.service
        mv "$tmp" "$BOOT_CHROOT"
        WORK_EXTRA=
}

# A btrfs in a file, with a subvolume copy of the chroot: nspawn-runner's btrfs backend. On failure,
# says why in btrfs_skip.
setup_btrfs() {
        if ! command -v mkfs.btrfs >/dev/null; then
                btrfs_skip="mkfs.btrfs is missing"
                return
        fi
        truncate -s 3G "$WORK/btrfs.img" &&
                mkfs.btrfs -q "$WORK/btrfs.img" >/dev/null &&
                BTRFS_LOOP=$(losetup --find --show "$WORK/btrfs.img") &&
                mkdir -p "$WORK/btrfs" &&
                mount -t btrfs "$BTRFS_LOOP" "$WORK/btrfs" &&
                BTRFS_MNT=$WORK/btrfs &&
                mkdir "$BTRFS_MNT/state" &&
                btrfs -q subvolume create "$BTRFS_MNT/state/bookworm" >/dev/null &&
                cp -a "$CHROOT/." "$BTRFS_MNT/state/bookworm/" &&
                sync -f "$BTRFS_MNT/state" ||
                btrfs_skip="setting up a loop-mounted btrfs failed"
}

# ---- measuring ----------------------------------------------------------------------------------

# single: one job at a time, the methods interleaved (tests/bench/single.py).
single() {
        local m=() label rc
        say "single jobs, one at a time: $RUNS rounds (+$WARMUP warm-up) of ${METHODS[*]}, interleaved…"
        for label in "${METHODS[@]}"; do
                [ ${#m[@]} = 0 ] || m+=(::)
                case $label in
                overlay) m+=(overlay "$JOB_R" "$WORK/state" overlay overlay) ;;
                isolated) m+=(isolated "$JOB_R" "$WORK/state" overlay isolated) ;;
                btrfs) m+=(btrfs "$JOB_R" "$BTRFS_MNT/state" btrfs btrfs) ;;
                boot) m+=(boot "$JOB_B" "$BOOT_CHROOT" boot boot) ;;
                seed) m+=(seed "$JOB_B" "$BOOT_CHROOT" seed seed) ;;
                esac
        done
        in_netns python3 "$BENCH/single.py" "$RUNS" "$WARMUP" "$WORK/single.json" "${m[@]}" || {
                rc=$?
                [ $rc != 130 ] || exit 130
                tail -n 20 "$WORK"/logs/*.log >&2 2>/dev/null
                die "a job failed."
        }
        sync
}

# concurrent LABEL N COMMAND…: N jobs started at once.
concurrent() {
        local label=$1 n=$2
        shift 2
        say "$n jobs at once, $label…"
        in_netns python3 "$BENCH/concurrent.py" "$n" "$CONC_TIMEOUT_S" "$WORK/conc-$label-$n.json" -- "$@" || exit $?
        if compgen -G "$WORK/logs/$label-c$n-*.log" >/dev/null; then
                say "some $label jobs of $n at once logged problems (see the report's notes):"
                tail -n 5 "$WORK"/logs/"$label"-c"$n"-*.log >&2
        fi
        sync
}

# ---- main ---------------------------------------------------------------------------------------

WORK=$(mktemp -d /var/tmp/nspawn-runner-bench.XXXXXX)
mkdir -p "$WORK/jobs" "$WORK/logs" "$WORK/boot" "$WORK/state" "$WORK/conf-host" "$WORK/conf-isolated"
echo "network = host" > "$WORK/conf-host/nspawn-runner.conf"
echo "network = isolated" > "$WORK/conf-isolated/nspawn-runner.conf"

ensure_chroot
ensure_boot_chroot
ln -s "$CHROOT" "$WORK/state/bookworm"

# The stage script, shaped like the ones gitlab-runner writes, with `true` for the job's commands.
cat > "$WORK/script" <<'EOF'
#!/usr/bin/env bash
trap 'exit 1' TERM
set -o pipefail
set -o errexit
set +o noclobber
( trap 'exit 1' TERM; eval $'true\n' ) < /dev/null
exit 0
EOF
chmod 0700 "$WORK/script"
BENCH_CGROUPS=$(bench_cgroups | tr '\n' ' ')
export BENCH_RUNNER=$RUNNER BENCH_SCRIPT=$WORK/script BENCH_WORK=$WORK BENCH_CGROUPS

btrfs_skip=
if [ "${BENCH_NO_BTRFS:-0}" = 1 ]; then
        btrfs_skip="BENCH_NO_BTRFS=1"
else
        say "setting up a loop-mounted btrfs…"
        t=$SECONDS
        setup_btrfs
        [ -n "$btrfs_skip" ] || say "btrfs ready in $((SECONDS - t)) s."
fi

JOB_R=$BENCH/job-nspawn-runner.sh
JOB_B=$BENCH/job-boot.sh

METHODS=(overlay isolated)
[ -n "$btrfs_skip" ] || METHODS+=(btrfs)
METHODS+=(boot seed)
single

for n in "${CONC_JOBS[@]}"; do
        concurrent overlay "$n" "$JOB_R" "$WORK/state" overlay "overlay-c$n"
        concurrent isolated "$n" "$JOB_R" "$WORK/state" overlay "isolated-c$n"
        [ -n "$btrfs_skip" ] || concurrent btrfs "$n" "$JOB_R" "$BTRFS_MNT/state" btrfs "btrfs-c$n"
done
boot32_skip=
boot8_skip=
inotify_note=
if [ "$SMOKE" = 1 ]; then
        boot8_skip="BENCH_SMOKE=1" boot32_skip="BENCH_SMOKE=1"
else
        inotify_raise
        concurrent boot 8 "$JOB_B" "$BOOT_CHROOT" boot-c8
fi
# 32 booted containers only when 8 of them went well and quickly enough to keep the bench short.
[ -n "$boot32_skip" ] || boot32_skip=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
if r["failed"]:
    print("%d of the 8 concurrent boot-style jobs failed" % r["failed"])
elif r["wall"] * 4 > 120:
    print("8 at once took %.0f s; 32 would take about %.0f s" % (r["wall"], r["wall"] * 4))
' "$WORK/conc-boot-8.json")
[ -n "$boot32_skip" ] || concurrent boot 32 "$JOB_B" "$BOOT_CHROOT" boot-c32
inotify_restore

python3 "$BENCH/report.py" --work "$WORK" --runner "$RUNNER" --warmup "$WARMUP" \
        --skip "btrfs=$btrfs_skip" --skip "boot8=$boot8_skip" --skip "boot32=$boot32_skip" "${SMOKE_SKIPS[@]}" --note "$inotify_note" \
        --load "$LOAD_START"
say "a job installing packages with dpkg -i, with and without --suppress-sync: $DPKG_RUNS rounds (+1 warm-up)…"
in_netns python3 "$BENCH/dpkg-install.py" "$RUNNER" "$WORK/state" "$WORK" "$DPKG_RUNS" || die "the dpkg job failed."
say "done in $((SECONDS - START)) s."
