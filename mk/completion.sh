#!/bin/sh
# Writes the bash completion script: the template (first argument) with @CASES@ replaced by
# one case arm per program (the other arguments), its options read from the program's --help.
# An option line in --help is indented at most six spaces and starts with '-'; what precedes
# the first double space is the option spelling, e.g. "-f, --locustfile FILE".
set -e
template=$1; shift
cases=$(mktemp)
trap 'rm -f "$cases"' EXIT
for prog in "$@"; do
    "$prog" --help | awk -v name="$(basename "$prog")" '
        /^ +-/ {
            match($0, /^ +/); if (RLENGTH > 6) next
            sub(/^ +/, ""); sub(/  .*/, "")
            n = split($0, w, /[ ,]+/); metavar = ""; these = ""
            for (i = 1; i <= n; i++)
                if (w[i] ~ /^-/) these = these " " w[i]
                else if (metavar == "") metavar = w[i]
            opts = opts these
            if (metavar != "") {
                m = split(these, o, " ")
                for (j = 1; j <= m; j++) valued = valued " " o[j] "=" metavar
            }
        }
        END {
            if (opts == "") { print name ": no options found in --help" > "/dev/stderr"; exit 1 }
            printf "    %s)\n        opts=\x27%s\x27\n        valued=\x27%s\x27 ;;\n", name, substr(opts, 2), substr(valued, 2)
        }' >> "$cases"
done
awk -v cases="$cases" '
    $0 == "@CASES@" { while ((getline line < cases) > 0) print line; next }
    { print }' "$template"
