#!/usr/bin/env bash
# debian-apt-sources.sh SUITE: the machine's apt source files that carry Debian SUITE, one path
# per line (HA_TEST_APT_SOURCES, space-separated, replaces the search). What mmdebstrap is
# given by packaging/test-packages.sh and tests/vm/make-debian-node.sh, and part of the keys
# of their cached roots. Prints nothing when no file carries the suite.
set -euo pipefail
suite=${1:?usage: debian-apt-sources.sh SUITE}
if [ -n "${HA_TEST_APT_SOURCES:-}" ]; then
  read -r -a given <<<"$HA_TEST_APT_SOURCES"
  printf '%s\n' "${given[@]}"
  exit 0
fi
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  if grep -Eq "^[[:space:]]*Suites:(.*[[:space:]])?$suite([[:space:]]|\$)" "$f" ||
     grep -Eq "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+${suite}[[:space:]]" "$f"; then
    echo "$f"
  fi
done
