#!/bin/bash
# Inspects built nspawn-runner packages: fields, the files (binaries of the package's architecture,
# the static init, units, man pages, completion, the configuration as conffile), that nothing of
# rootfs/etc leaked in, that only nspawn-runnerd.service is enabled, man pages render, and lintian
# (when installed) has no error or warning. TAP output. Usage: check-deb.sh DEB...
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: $0 nspawn-runner_VERSION_ARCH.deb..." >&2; exit 2; }

source tests/lib/tap.sh

version=$(sed -n 's/^VERSION := //p' Makefile)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for deb in "$@"; do
        deb=$(realpath "$deb")
        name=${deb##*/}
        arch=$(dpkg-deb -f "$deb" Architecture)
        case $arch in
        amd64) elf='x86-64' ;;
        arm64) elf='ARM aarch64' ;;
        i386) elf='Intel 80386' ;;
        armhf) elf='ARM, EABI5' ;;
        *) elf=$arch ;;
        esac
        root=$tmp/$arch
        mkdir -p "$root" && dpkg-deb -x "$deb" "$root" && dpkg-deb -e "$deb" "$root/DEBIAN"
        dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }' | grep -v '/$' | sort >"$tmp/$arch.files"
        has() { grep -qx -- "$1" "$tmp/$arch.files"; }

        point "$name: Package nspawn-runner" test "$(dpkg-deb -f "$deb" Package)" = nspawn-runner
        point "$name: Version $version (the Makefile's)" test "$(dpkg-deb -f "$deb" Version)" = "$version"
        deps=$(dpkg-deb -f "$deb" Depends)
        for d in systemd-container debootstrap eatmydata nftables libsystemd0 libyaml-0-2 libgpiod2; do
                point "$name: depends on $d" grep -qw -- "$d" <<<"$deps"
        done
        point "$name: Built-Using (the static init's libc)" test -n "$(dpkg-deb -f "$deb" Built-Using)"

        for f in /usr/bin/nspawn-runner /usr/bin/nspawn-runnerd /usr/bin/nspawn-runner-hwtest /usr/bin/nspawn-run; do
                point "$name: $f is a dynamically linked $elf ELF" \
                        grep -q "ELF.*$elf.*dynamically linked" <<<"$(file -b "$root$f")"
        done
        point "$name: nspawn-runner-init is a static $elf ELF" \
                grep -q "ELF.*$elf.*statically linked" <<<"$(file -b "$root/usr/libexec/nspawn-runner/nspawn-runner-init")"
        point "$name: the Ansible connection plugin" has /usr/share/nspawn-runner/ansible/connection_plugins/nspawn_runner.py
        point "$name: bash completion" has /usr/share/bash-completion/completions/nspawn-runner
        point "$name: bash completion of nspawn-run" has /usr/share/bash-completion/completions/nspawn-run
        point "$name: README (the unit's Documentation=)" has /usr/share/doc/nspawn-runner/README.md
        for m in man1/nspawn-runner.1 man8/nspawn-runnerd.8 man5/nspawn-runner.conf.5 man1/nspawn-runner-hwtest.1 man1/nspawn-run.1; do
                page=$root/usr/share/man/$m.gz
                point "$name: man page $m renders without warnings" \
                        test -f "$page" -a -z "$(man_warnings "$page")"
        done

        # rootfs/usr is the package's (units in /lib/systemd/system for Debian 12's debhelper).
        while read -r f; do
                f=/usr/${f#rootfs/usr/}
                case $f in /usr/lib/systemd/system/*) f=/lib/systemd/system/${f##*/} ;; esac
                point "$name: rootfs file $f" has "$f"
        done < <(find rootfs/usr -type f | sort)
        # rootfs/etc is the appliance's: nothing of it, and nothing but the configuration in /etc.
        leaked=$(grep '^/etc/' "$tmp/$arch.files" | grep -vx -e /etc/nspawn-runner/nspawn-runner.conf -e /etc/sudoers.d/nspawn-run)
        point "$name: nothing else in /etc${leaked:+: $leaked}" test -z "$leaked"
        if [ -d rootfs/etc ]; then
                leaked=$(cd rootfs && find etc -type f -printf '/%p\n' | grep -xFf - "$tmp/$arch.files")
                point "$name: no file of rootfs/etc${leaked:+: $leaked}" test -z "$leaked"
        fi
        point "$name: /etc/nspawn-runner/nspawn-runner.conf is a conffile" \
                grep -qx /etc/nspawn-runner/nspawn-runner.conf "$root/DEBIAN/conffiles"
        point "$name: the configuration is the template" cmp -s conf/nspawn-runner.conf "$root/etc/nspawn-runner/nspawn-runner.conf"
        # The sudoers drop-in: a conffile, mode 0440 as sudo wants, valid, and off (every line a comment).
        point "$name: /etc/sudoers.d/nspawn-run is a conffile" grep -qx /etc/sudoers.d/nspawn-run "$root/DEBIAN/conffiles"
        point "$name: /etc/sudoers.d/nspawn-run is the shipped file" cmp -s conf/nspawn-run.sudoers "$root/etc/sudoers.d/nspawn-run"
        point "$name: /etc/sudoers.d/nspawn-run has mode 0440" \
                test "$(dpkg-deb -c "$deb" | awk '$6 == "./etc/sudoers.d/nspawn-run" { print $1 }')" = -r--r-----
        point "$name: /etc/sudoers.d/nspawn-run grants nothing" test -z "$(grep -v '^#' "$root/etc/sudoers.d/nspawn-run")"
        if command -v visudo >/dev/null; then
                point "$name: /etc/sudoers.d/nspawn-run passes visudo -c" visudo -c -q -f "$root/etc/sudoers.d/nspawn-run"
        fi

        # Units: nspawn-runnerd.service is enabled on install, no other unit. (debhelper's snippet for
        # a unit not to enable re-enables it only when it is "debian-installed": on upgrades.)
        helper() { sed -n "s/.*deb-systemd-helper $1 '\([^']*\)'.*/\1/p" "$root/DEBIAN/postinst" | sort -u; }
        enabled=$(comm -23 <(helper enable) <(helper debian-installed) | tr '\n' ' ')
        point "$name: postinst enables nspawn-runnerd.service only (${enabled% })" test "${enabled% }" = nspawn-runnerd.service

        # The binaries run: natively, or another architecture's through qemu-user and binfmt_misc.
        if [ "$arch" = "$(dpkg --print-architecture)" ] || "$root/usr/bin/nspawn-runnerd" --version >/dev/null 2>&1; then
                point "$name: nspawn-runner --version" \
                        test "$("$root/usr/bin/nspawn-runner" --version)" = "nspawn-runner $version"
                point "$name: nspawn-runnerd --version" \
                        test "$("$root/usr/bin/nspawn-runnerd" --version)" = "nspawn-runnerd $version"
                point "$name: nspawn-runner-hwtest --help" "$root/usr/bin/nspawn-runner-hwtest" --help >/dev/null
                # Outside a machine the init finds no control directory: it ran, and said so. On an
                # empty /run of its own, as it makes /run/nspawn-runner first.
                out=$(cd / && timeout 10 unshare -r -m --propagation private \
                        sh -c 'mount -t tmpfs tmpfs /run && exec "$0"' "$root/usr/libexec/nspawn-runner/nspawn-runner-init" 2>&1)
                point "$name: nspawn-runner-init runs (${out:0:60})" grep -q '^nspawn-runner-init: ' <<<"$out"
        else
                echo "# $arch binaries do not run here (no qemu-user with binfmt_misc): not run"
        fi

        # The completion, as installed: the commands, and image names from --state-dir.
        mkdir -p "$tmp/state/.images/b/1" && ln -sfn .images/b/1 "$tmp/state/bookworm"
        comp=$root/usr/share/bash-completion/completions/nspawn-runner
        words=$(echo $(complete_words "$comp" nspawn-runner --state-dir "$tmp/state" chroot-login ""))
        point "$name: completion of chroot-login lists the images ($words)" test "$words" = bookworm
        words=$(echo $(complete_words "$comp" nspawn-runner chroot-))
        point "$name: completion of chroot- ($words)" test "$words" = "chroot-create chroot-login chroot-list chroot-maintenance"

        if command -v lintian >/dev/null; then
                lintian --fail-on error,warning "$deb" >"$tmp/lintian" 2>&1; rc=$?
                out=$(grep -v 'running with root privileges' "$tmp/lintian")
                point "$name: lintian has no error or warning${out:+: $out}" test $rc -eq 0
        else
                echo "# lintian is not installed: skipped"
        fi
done

summary package
