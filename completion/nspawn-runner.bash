# bash completion for nspawn-runner                                    -*- shell-script -*-
# SPDX-License-Identifier: GPL-2.0-or-later
# Sub-commands, their options, option values, and image names from the state directory (honouring
# --state-dir, --config-dir and $NSPAWN_RUNNER_STATE_DIR / $NSPAWN_RUNNER_CONFIG_DIR on the line).

# The images: the state directory's symlinks whose name does not start with a dot.
_nspawn_runner_images() {
        local f
        for f in "$1"/*; do
                [[ -L $f ]] && printf '%s\n' "${f##*/}"
        done
}

# Images a playbook defines: NAME.yaml or NAME.yml in the configuration or state directory.
_nspawn_runner_playbooks() {
        local d f
        for d in "$@"; do
                for f in "$d"/*.yaml "$d"/*.yml; do
                        [[ -f $f ]] || continue
                        f=${f##*/}
                        printf '%s\n' "${f%.y*ml}"
                done
        done
}

_nspawn_runner_files() {
        if declare -F _filedir >/dev/null; then
                _filedir "$@"
        elif [[ $1 == -d ]]; then
                mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        else
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
}

_nspawn_runner() {
        local cur prev words cword
        if declare -F _init_completion >/dev/null; then
                _init_completion || return
        else
                words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
                cur=${words[cword]} prev=${words[cword - 1]}
        fi

        local commands='gitlab-config prepare run cleanup chroot-create chroot-login chroot-list
                chroot-maintenance gc toml status refresh poweroff appliance-setup'
        local global='-v --verbose --debug --state-dir --config-dir -h --help --version --list-commands'
        local state_dir=${NSPAWN_RUNNER_STATE_DIR:-/var/lib/nspawn-runner}
        local config_dir=${NSPAWN_RUNNER_CONFIG_DIR:-/etc/nspawn-runner}
        local cmd= npos=0 i

        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                --state-dir) state_dir=${words[++i]} ;;
                --config-dir) config_dir=${words[++i]} ;;
                --id | --default-image | --storage | --shell | --suite | --mirror | --include | --arch | --threshold | \
                        --control-socket | --boot-dir | --run-dir | --gitlab-runner-config | --wait-data)
                        ((i++)) ;;
                -*) ;;
                *) if [[ -z $cmd ]]; then cmd=${words[i]}; else ((npos++)); fi ;;
                esac
        done

        case $prev in
        --state-dir | --config-dir | --boot-dir | --run-dir)
                _nspawn_runner_files -d
                return ;;
        --control-socket | --gitlab-runner-config)
                _nspawn_runner_files
                return ;;
        --storage)
                mapfile -t COMPREPLY < <(compgen -W 'auto overlay btrfs tmpfs' -- "$cur")
                return ;;
        --shell)
                mapfile -t COMPREPLY < <(compgen -W 'bash sh' -- "$cur")
                return ;;
        --arch)
                mapfile -t COMPREPLY < <(compgen -W 'amd64 arm64 armel armhf i386 mips64el ppc64el riscv64 s390x' -- "$cur")
                return ;;
        --default-image)
                mapfile -t COMPREPLY < <(compgen -W "$(_nspawn_runner_images "$state_dir")" -- "$cur")
                return ;;
        --id | --suite | --mirror | --include | --threshold | --wait-data)
                return ;;
        esac

        if [[ -z $cmd ]]; then
                if [[ $cur == -* ]]; then
                        mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
                else
                        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
                fi
                return
        fi

        local opts=
        case $cmd in
        prepare) opts='--id --default-image --storage' ;;
        run) opts='--id --shell' ;;
        cleanup) opts='--id' ;;
        toml) opts='--default-image' ;;
        chroot-create) opts='--suite --mirror --include --arch' ;;
        chroot-list) opts='--json' ;;
        gc) opts='--threshold' ;;
        status | refresh | poweroff) opts='--control-socket' ;;
        appliance-setup) opts='--boot-dir --run-dir --gitlab-runner-config --wait-data --control-socket' ;;
        esac
        if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$opts $global" -- "$cur")
                return
        fi

        local names=
        case $cmd:$npos in
        prepare:0 | chroot-login:0 | toml:0)
                names=$(_nspawn_runner_images "$state_dir") ;;
        chroot-maintenance:0)
                names="$(_nspawn_runner_images "$state_dir") $(_nspawn_runner_playbooks "$config_dir" "$state_dir")" ;;
        chroot-create:0)
                names=$(_nspawn_runner_playbooks "$config_dir" "$state_dir") ;;
        run:0)
                _nspawn_runner_files
                return ;;
        run:1)
                names='prepare_script get_sources restore_cache download_artifacts step_script
                        build_script after_script archive_cache archive_cache_on_failure
                        upload_artifacts_on_success upload_artifacts_on_failure cleanup_file_variables' ;;
        esac
        [[ -n $names ]] && mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
        return 0
} && complete -F _nspawn_runner nspawn-runner
