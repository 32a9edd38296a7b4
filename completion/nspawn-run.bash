# bash completion for nspawn-run                                       -*- shell-script -*-
# SPDX-License-Identifier: GPL-2.0-or-later
# The options, the images of the state directory after -n, and commands after the image.

_nspawn_run() {
        local cur prev words cword f i
        if declare -F _init_completion >/dev/null; then
                _init_completion || return
        else
                cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
                words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
        fi
        if [[ $prev == -n || $prev == --name ]]; then
                COMPREPLY=()
                for f in /var/lib/nspawn-runner/*; do
                        [[ -d $f && $f == */"$cur"* ]] && COMPREPLY+=("${f##*/}")
                done
                return
        fi
        # After the image and a first word, the rest belongs to the command.
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                -n | --name) ((i++)) ;;
                -*) ;;
                *)
                        if declare -F _command_offset >/dev/null; then
                                _command_offset "$i"
                        fi
                        return
                        ;;
                esac
        done
        if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W '-n --name -h --help --version' -- "$cur")
        else
                mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        fi
}
complete -F _nspawn_run nspawn-run
