#!/bin/bash
# The man pages, the bash completion and the configuration template against the code: every
# command, long option and configuration key in the code is documented, and nothing documented is
# missing from the code. TAP output; run from anywhere. BUILD_DIR (default build) holds the
# nspawn-runner whose command table (--list-commands) the man page and the completion are held to.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}

source tests/lib/tap.sh

# The long options of the getopt table in a C file (the table starts at "struct option").
long_options() { sed -n '/struct option [a-z_]*\[\] = {/,/};/p' "$1" | sed -n 's/^ *{ "\([a-z-]*\)",.*/\1/p'; }
# The commands of a program: nspawn-runner's table, or what a C file dispatches on: streq(cmd, "NAME").
commands() {
        if [ "$1" = src/nspawn-runner/main.c ]; then
                cut -d' ' -f1 <<<"$table"
        else
                sed -n 's/.*streq(cmd, "\([a-z-]*\)").*/\1/p' "$1" | sort -u
        fi
}
# A man page documents "--opt" or "cmd" when it is a term in bold: *--opt* or *cmd*.
documents() { grep -qF -- "*$2*" "$1"; }

# NAME MIN MAX OPTIONS(,-separated or -) shown|internal, a line per command.
table=$("$build/nspawn-runner" --list-commands)
point "nspawn-runner: --list-commands of $build/nspawn-runner lists commands" test -n "$table"
# The options of a command in the table, one a line.
table_options() { awk -v c="$1" '$1 == c && $4 != "-" { gsub(",", "\n", $4); print $4 }' <<<"$table" | sort; }

for pair in nspawn-runner:src/nspawn-runner/main.c nspawn-runnerd:src/nspawn-runnerd/main.c \
        nspawn-runner-hwtest:src/hw-test/nspawn-runner-hwtest.c nspawn-run:src/nspawn-run/main.c; do
        prog=${pair%%:*} src=${pair#*:}
        page=$(ls man/"$prog".[0-9].scd)
        opts=$(long_options "$src")
        point "$prog: options found in $src" test -n "$opts"
        for o in $opts; do
                point "$prog: --$o in $page" documents "$page" "--$o"
        done
        # Every option the page lists is one the program has.
        for o in $(grep -o '^\*--[a-z-]*\*' "$page" | tr -d '*' | sed 's/^--//' | sort -u); do
                point "$prog: $page's --$o is in $src" grep -qx -- "$o" <<<"$opts"
        done
        for c in $(commands "$src"); do
                point "$prog: command $c in $page" grep -q "^\*$c\*" "$page"
        done
done

# The man page's synopsis of each command names the options the table gives it.
for c in $(commands src/nspawn-runner/main.c); do
        man_opts=$(grep "^\*$c\*" man/nspawn-runner.1.scd | grep -o '\*--[a-z-]*\*' | tr -d '*' | sort)
        point "nspawn-runner: the synopsis of $c has its options ($(echo $man_opts))" test "$man_opts" = "$(table_options "$c")"
done

# The completion, run: it offers every command but the internal ones, and after a command its options.
comp=completion/nspawn-runner.bash
point "completion: bash -n" bash -n "$comp"
completions() { complete_words "$comp" nspawn-runner "$@" | sort; }
shown=$(awk '$5 == "shown" { print $1 }' <<<"$table" | sort)
point "completion: the commands are the table's ($(echo $shown))" test "$(completions "")" = "$shown"
global=$(completions -- | sort)
for c in $shown; do
        offered=$(comm -23 <(completions "$c" --) <(echo "$global"))
        point "completion: the options of $c are the table's ($(echo $offered))" test "$offered" = "$(table_options "$c")"
done
for o in $(long_options src/nspawn-runner/main.c); do
        point "completion: --$o" grep -qw -- "--$o" "$comp"
done

# nspawn-run's completion knows its options.
comp=completion/nspawn-run.bash
point "completion: bash -n $comp" bash -n "$comp"
for o in $(long_options src/nspawn-run/main.c); do
        point "completion: nspawn-run --$o" grep -qw -- "--$o" "$comp"
done

# Configuration keys: the key table of config.c against nspawn-runner.conf(5) and the template.
keys=$(sed -n 's/^ *{ "\([a-z_]*\)", ".*/\1/p' src/shared/config.c)
point "config: keys found in src/shared/config.c" test -n "$keys"
for k in $keys; do
        point "config: $k in nspawn-runner.conf(5)" grep -q "^\*$k\* =" man/nspawn-runner.conf.5.scd
        point "config: $k in conf/nspawn-runner.conf" grep -q "^#$k = " conf/nspawn-runner.conf
done
for k in $(sed -n 's/^\*\([a-z_]*\)\* =.*/\1/p' man/nspawn-runner.conf.5.scd) \
        $(sed -n 's/^#\([a-z_]*\) = .*/\1/p' conf/nspawn-runner.conf); do
        point "config: documented key $k is in src/shared/config.c" grep -qx "$k" <<<"$keys"
done

# scdoc passes a line's leading '.' or "'" to roff, which takes the line for a request and drops it.
for page in man/*.scd; do
        bad=$(grep -nE "^[[:space:]]*[.']" "$page" | head -3)
        point "$page: no line starts with . or '${bad:+: $bad}" test -z "$bad"
done
# Every page is valid scdoc and renders without a warning from man.
for page in man/*.scd; do
        out=$(scdoc <"$page" 2>&1 >/tmp/check-docs.$$) && warn=$(man_warnings /tmp/check-docs.$$)
        point "$page renders${out:+: $out}${warn:+: $warn}" test -z "$out${warn:-}"
done
rm -f /tmp/check-docs.$$

summary docs
