#!/bin/sh
# Builds herd's Debian package (debian/) into OUT, default build/deb, and prints lintian's
# verdict. Called by `make deb`.
#
# dpkg-buildpackage cleans the tree first (`make clean`: it would delete the developer's
# build/ and bin/), stages under debian/ and writes the package to the folder above the
# tree. So it runs on a copy of the tree under OUT/src (what git tracks plus new files it
# does not ignore, or everything but build/ and bin/ outside git), and only the packages
# come out: nothing is written outside OUT. SOURCE_DATE_EPOCH is set by dpkg-buildpackage
# from debian/changelog, so the man pages' dates do not depend on the day of the build.
set -e
out=${1:-build/deb}
src=$out/src/herd
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # a file deleted but not yet committed is still listed: skipped by --ignore-failed-read
    git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
    tar --exclude=./build --exclude=./bin --exclude=./"$out" -cf - . | tar -xf - -C "$src"
fi

# make's own variables (-j's jobserver, command-line variables such as BUILD) are not the
# package build's: debian/rules starts from a clean make.
unset MAKEFLAGS MFLAGS MAKELEVEL
start=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -Jauto) > "$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log"
    echo "make deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
rm -rf "$out/src"
echo "make deb: built in $(( $(date +%s) - start )) s:"
ls -1 "$out"/*.deb

# lintian's verdict on the package: errors fail `make deb`; warnings are listed. Tags that
# do not apply to herd are overridden with their reason in debian/herd.lintian-overrides.
deb=$(ls "$out"/herd_*.deb)
if lintian --fail-on error "$deb" > "$out/lintian.txt"; then ok=1; else ok=0; fi
cat "$out/lintian.txt"
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$out/lintian.txt" || true)
echo "make deb: lintian: $errors error(s), $warnings warning(s) ($out/lintian.txt)"
[ "$ok" = 1 ]
