#!/usr/bin/env bash
# The server-side packages' test (make test-packages; needs root for chroot and mount):
#  1. builds the .deb and the .rpm (packaging/build-packages.sh) from the static agent;
#  2. compares `rpm -qlp` and `dpkg-deb -c` with the list of files they must hold;
#  3. builds a Debian 12 root file system from Debian's packages with mmdebstrap (minbase,
#     systemd, man-db, procps; cached under out/test-packages/, keyed by the package list and
#     the apt sources) and, in a fresh copy of it:
#     - installs the .deb with dpkg in a chroot: files, md5sums, conffile, unit enabled;
#     - systemd-analyze verify accepts the unit without a word, and rejects two deliberately
#       broken copies (a missing ExecStart binary; a misspelt key, which verify only warns
#       about): proof that the check can fail;
#     - the manual page renders without warnings;
#     - the static agent runs in the chroot: check-config refuses the packaged agent.toml
#       without a cluster key (and for that reason alone), then accepts it once a key exists;
#     - an upgrade to a higher version keeps a locally changed /etc/ha-agent/agent.toml;
#     - remove keeps the configuration, purge removes it and the unit's enablement;
#  4. the same for the .rpm in a second copy: install, verify, upgrade with a changed
#     %config(noreplace) file, erase (the changed file is kept as .rpmsave).
# Usage: packaging/test-packages.sh [AGENT_BINARY]   (default: the binary of make agent)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bin=${1:-$repo/target/x86_64-unknown-linux-musl/release/ha-agent}
suite=bookworm
# resource-agents: the packaged agent.toml names its Filesystem and IPaddr2 agents, and
# check-config reads their meta-data (the packages recommend it).
root_pkgs=systemd,man-db,procps,resource-agents
cache="$repo/out/test-packages"
started=$SECONDS
checks=0

fail() { echo "test-packages: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); echo "  ok: $*"; }
step() { echo "test-packages: [$((SECONDS - started)) s] $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (chroot, mount, dpkg and rpm into a root file system)"
[ -x "$bin" ] || fail "no agent binary at $bin (make agent)"

need_pkgs=()
command -v mmdebstrap >/dev/null || need_pkgs+=(mmdebstrap)
command -v rpmbuild >/dev/null || need_pkgs+=(rpm)
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "test-packages: installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ha-agent-test-packages.XXXXXX")
# The root file systems live in a tmpfs: unpacking and deleting 400 MB of small files on a
# busy disk took a minute; dropping a tmpfs takes nothing.
roots="$tmp/roots"
cleanup() {
  local m
  for m in "$roots"/*/proc "$roots"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m" || true; fi
  done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Build ------------------------------------------------------------------------------
step "building the packages"
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$repo/agent/Cargo.toml" | head -n 1)
PKG_VERSION=$version timeout 600 bash "$here/build-packages.sh" "$bin" | sed 's/^/  /'
deb="$repo/out/packages/ha-agent_${version}_amd64.deb"
rpm_file="$repo/out/packages/ha-agent-${version}-1.x86_64.rpm"
[ -f "$deb" ] || fail "$deb was not built"
[ -f "$rpm_file" ] || fail "$rpm_file was not built"
ok "built $(basename "$deb") ($(stat -c %s "$deb") bytes) and $(basename "$rpm_file") ($(stat -c %s "$rpm_file") bytes)"

# --- 2. Contents ---------------------------------------------------------------------------
# The files both packages install (the documents follow docs/: every docs/*.md and the example
# configurations, but never the example key).
files=(
  /etc/ha-agent/agent.toml
  /usr/lib/systemd/system/ha-agent.service
  /usr/sbin/ha-agent
  /usr/sbin/fence_rackha
  /usr/share/doc/ha-agent/LICENSE
  /usr/share/doc/ha-agent/README.md
  /usr/share/doc/ha-agent/copyright
  /usr/share/man/man8/ha-agent.8.gz
  /usr/share/bash-completion/completions/ha-agent
  /usr/share/snmp/mibs/RACK-HA-MIB.txt
)
for f in "$repo"/docs/*.md; do files+=("/usr/share/doc/ha-agent/$(basename "$f")"); done
for f in "$repo"/docs/examples/*.toml; do files+=("/usr/share/doc/ha-agent/examples/$(basename "$f")"); done
# Directories the rpm owns; the deb lists every directory of its tree.
rpm_dirs=(/etc/ha-agent /usr/share/doc/ha-agent /usr/share/doc/ha-agent/examples /var/lib/ha-agent)

# compare WHAT EXPECTED_FILE ACTUAL_FILE: exact equality of two path lists.
compare() {
  local missing extra
  mapfile -t missing < <(LC_ALL=C comm -23 <(LC_ALL=C sort -u "$2") <(LC_ALL=C sort -u "$3"))
  mapfile -t extra < <(LC_ALL=C comm -13 <(LC_ALL=C sort -u "$2") <(LC_ALL=C sort -u "$3"))
  if [ ${#missing[@]} -gt 0 ] || [ ${#extra[@]} -gt 0 ]; then
    if [ ${#missing[@]} -gt 0 ]; then echo "  missing from $1:"; printf '    %s\n' "${missing[@]}"; fi >&2
    if [ ${#extra[@]} -gt 0 ]; then echo "  unexpected in $1:"; printf '    %s\n' "${extra[@]}"; fi >&2
    fail "$1 does not hold exactly the expected files"
  fi
}

step "package contents"
printf '%s\n' "${files[@]}" "${rpm_dirs[@]}" >"$tmp/expected-rpm"
rpm -qlp "$rpm_file" 2>/dev/null >"$tmp/actual-rpm"
compare "the rpm (rpm -qlp)" "$tmp/expected-rpm" "$tmp/actual-rpm"
ok "rpm -qlp: exactly the $(wc -l <"$tmp/expected-rpm") expected files and directories"
[ "$(rpm -qpc "$rpm_file" 2>/dev/null)" = /etc/ha-agent/agent.toml ] ||
  fail "rpm: the configuration files are '$(rpm -qpc "$rpm_file" 2>/dev/null | tr '\n' ' ')', not /etc/ha-agent/agent.toml"
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_file" 2>/dev/null | awk '$2 == "/etc/ha-agent/agent.toml" { print $1 }')
[ "$flags" = cn ] || fail "rpm: /etc/ha-agent/agent.toml has flags '$flags', not %config(noreplace) (cn)"
ok "rpm: /etc/ha-agent/agent.toml is %config(noreplace)"

{
  printf '%s\n' "${files[@]}" /var/lib/ha-agent
  # Every parent directory of those paths is an entry of the data archive.
  printf '%s\n' "${files[@]}" /var/lib/ha-agent | while read -r p; do
    p=$(dirname "$p")
    while [ "$p" != / ]; do echo "$p"; p=$(dirname "$p"); done
  done
} >"$tmp/expected-deb"
# (A symbolic link is listed as `path -> target`: the path alone is compared.)
dpkg-deb -c "$deb" | sed -E 's/^([^ ]+ +){5}//; s| -> .*$||; s|^\./|/|; s|(.)/$|\1|' | grep -vx / >"$tmp/actual-deb"
compare "the deb (dpkg-deb -c)" "$tmp/expected-deb" "$tmp/actual-deb"
ok "dpkg-deb -c: exactly the $(wc -l <"$tmp/expected-deb") expected files and directories"
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/ha-agent/agent.toml ] ||
  fail "deb: conffiles is '$(dpkg-deb -I "$deb" conffiles | tr '\n' ' ')', not /etc/ha-agent/agent.toml"
for s in postinst prerm postrm md5sums; do
  dpkg-deb -I "$deb" "$s" >/dev/null 2>&1 || fail "deb: no DEBIAN/$s"
done
ok "deb: conffiles lists /etc/ha-agent/agent.toml; postinst, prerm, postrm and md5sums present"

# --- 3. A Debian 12 root file system -------------------------------------------------------
# The machine's apt sources for this suite (HA_TEST_APT_SOURCES: other files).
mapfile -t apt_sources < <(bash "$repo/scripts/debian-apt-sources.sh" "$suite")
[ ${#apt_sources[@]} -gt 0 ] || fail "no apt source for Debian $suite on this machine (set HA_TEST_APT_SOURCES)"
key=$( { echo "$suite minbase $root_pkgs $(mmdebstrap --version)"; cat "${apt_sources[@]}"; } | sha256sum | cut -c1-16)
tarball="$cache/rootfs-$suite-$key.tar"
mkdir -p "$cache"
if [ -f "$tarball" ]; then
  step "Debian $suite root: cached $(basename "$tarball")"
else
  step "Debian $suite root: mmdebstrap --variant=minbase --include=$root_pkgs from ${apt_sources[*]}"
  rm -f "$cache"/rootfs-*.tar "$cache"/rootfs-*.tar.part
  if ! timeout 1800 mmdebstrap --quiet --variant=minbase --include="$root_pkgs" --format=tar \
      "$suite" "$tarball.part" "${apt_sources[@]}" >"$tmp/mmdebstrap.log" 2>&1; then
    tail -n 30 "$tmp/mmdebstrap.log" >&2
    fail "mmdebstrap could not build the root file system"
  fi
  mv "$tarball.part" "$tarball"
fi
ok "Debian $suite root file system ($(($(stat -c %s "$tarball") / 1048576)) MiB tarball)"

mkdir "$roots"
mount -t tmpfs -o size=2g,mode=0755 ha-agent-test-roots "$roots" || fail "cannot mount a tmpfs for the root file systems"
# new_root NAME: a fresh copy of the root file system with /proc mounted; prints its path.
new_root() {
  local r="$roots/$1"
  mkdir "$r"
  tar -xf "$tarball" -C "$r" --numeric-owner
  mount -t proc proc "$r/proc"
  echo "$r"
}
# in_root ROOT COMMAND...: run in the chroot, bounded, without input.
in_root() { local r=$1; shift; timeout 300 chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@" </dev/null; }

# verify_unit ROOT PATH: systemd-analyze verify accepts the unit only if it exits 0 AND says
# nothing: an unknown key or a bad value is only a warning with exit status 0.
verify_unit() {
  local out rc=0
  out=$(in_root "$1" systemd-analyze verify "$2" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "${out:-(no output)}" | sed 's/^/    verify: /'
    return 1
  fi
}

step "the .deb in a chroot"
R=$(new_root deb)
cp "$deb" "$R/tmp/"
in_root "$R" dpkg -i "/tmp/$(basename "$deb")" >"$tmp/dpkg-install.log" 2>&1 ||
  { cat "$tmp/dpkg-install.log" >&2; fail "dpkg -i $(basename "$deb") failed in the chroot"; }
ok "dpkg -i in the chroot (postinst: $(grep -c '^ha-agent:' "$tmp/dpkg-install.log") note(s) to the administrator)"
for f in "${files[@]}"; do
  [ -f "$R$f" ] || fail "after dpkg -i: $f is missing"
done
[ -d "$R/var/lib/ha-agent" ] || fail "after dpkg -i: /var/lib/ha-agent is missing"
[ -x "$R/usr/sbin/ha-agent" ] || fail "after dpkg -i: /usr/sbin/ha-agent is not executable"
ok "all ${#files[@]} files and /var/lib/ha-agent installed"
v=$(in_root "$R" dpkg --verify ha-agent 2>&1) || fail "dpkg --verify ha-agent: $v"
[ -z "$v" ] || fail "dpkg --verify ha-agent reports changed files: $v"
ok "dpkg --verify: every installed file matches the package's md5sums"
[ "$(in_root "$R" dpkg-query -W -f "\${Conffiles}" ha-agent | awk 'NF { print $1 }')" = /etc/ha-agent/agent.toml ] ||
  fail "dpkg does not know /etc/ha-agent/agent.toml as the package's conffile"
ok "dpkg-query: /etc/ha-agent/agent.toml is a conffile"
wants="$R/etc/systemd/system/multi-user.target.wants/ha-agent.service"
if [ ! -L "$wants" ] || [ ! -f "$R$(readlink "$wants")" ]; then
  fail "the unit is not enabled: no multi-user.target.wants/ha-agent.service link to the unit"
fi
ok "the unit is enabled on installation ($(readlink "$wants"))"

verify_unit "$R" /usr/lib/systemd/system/ha-agent.service || fail "systemd-analyze verify does not accept ha-agent.service"
ok "systemd-analyze verify ha-agent.service: accepted, no warning (executables, man page, every key)"
unit="$R/usr/lib/systemd/system/ha-agent.service"
sed 's|^ExecStart=/usr/sbin/ha-agent |ExecStart=/usr/sbin/ha-agent-missing |' "$unit" >"$R/tmp/ha-agent-missing.service"
sed 's|^KillMode=|KilMode=|' "$unit" >"$R/tmp/ha-agent-misspelt.service"
for broken in ha-agent-missing ha-agent-misspelt; do
  grep -q -e ha-agent-missing -e KilMode "$R/tmp/$broken.service" || fail "could not break the unit for $broken"
  if verify_unit "$R" "/tmp/$broken.service" >"$tmp/$broken.out"; then
    fail "systemd-analyze verify accepted the broken unit $broken.service: the check cannot fail"
  fi
done
ok "the check rejects broken copies: $(tr -s ' ' <"$tmp/ha-agent-missing.out" | head -n 1 | sed 's/^ *verify: //'); $(tr -s ' ' <"$tmp/ha-agent-misspelt.out" | head -n 1 | sed 's/^ *verify: //')"

man_warn=$(in_root "$R" env MANWIDTH=80 man --warnings=w ha-agent 2>&1 >/dev/null) || fail "man ha-agent failed in the chroot: $man_warn"
[ -z "$man_warn" ] || fail "man ha-agent warns: $man_warn"
lines=$(in_root "$R" env MANWIDTH=80 man ha-agent 2>/dev/null | wc -l)
[ "$lines" -gt 100 ] || fail "man ha-agent rendered only $lines lines"
ok "man ha-agent renders ($lines lines) without warnings"
# shellcheck disable=SC2016 # expanded by the bash in the chroot
comp=$(in_root "$R" bash -c '. /usr/share/bash-completion/completions/ha-agent
  COMP_WORDS=(ha-agent mo); COMP_CWORD=1; _ha_agent; echo "${COMPREPLY[*]}"
  COMP_WORDS=(ha-agent status --ch); COMP_CWORD=2; _ha_agent; echo "${COMPREPLY[*]}"' 2>&1) ||
  fail "the bash completion does not load in the chroot: $comp"
[ "$comp" = "$(printf 'move\n--check')" ] || fail "the bash completion completes 'mo' and 'status --ch' as: $comp"
ok "bash completion: ha-agent mo<TAB> -> move, status --ch<TAB> -> --check"

out=$(in_root "$R" /usr/sbin/ha-agent version 2>&1) || fail "the static agent does not run in the chroot: $out"
[ "$out" = "ha-agent $version" ] || fail "ha-agent version says '$out', expected 'ha-agent $version'"
# The fence agent: installed by its fence-agents name, it prints its metadata (what
# Pacemaker's fencer reads).
out=$(in_root "$R" /usr/sbin/fence_rackha -o metadata 2>&1) || fail "fence_rackha -o metadata fails: $out"
case $out in *'<resource-agent name="fence_rackha"'*) ;; *) fail "fence_rackha -o metadata printed: $out" ;; esac
rc=0; out=$(in_root "$R" /usr/sbin/ha-agent check-config /etc/ha-agent/agent.toml 2>&1) || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q 'cluster.key' <<<"$out" || ! grep -q '^1 problem(s) found$' <<<"$out"; then
  printf '%s\n' "$out" >&2
  fail "without a key, check-config should refuse agent.toml for the missing key alone (exit 1), got exit $rc"
fi
ok "without /etc/ha-agent/cluster.key, check-config refuses agent.toml for that one problem (no key ships)"
# The site's key, made as agent.toml and the manual page say.
in_root "$R" sh -c "umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/ha-agent/cluster.key" ||
  fail "could not make a cluster key in the chroot"
out=$(in_root "$R" /usr/sbin/ha-agent check-config /etc/ha-agent/agent.toml 2>&1) ||
  { printf '%s\n' "$out" >&2; fail "ha-agent check-config /etc/ha-agent/agent.toml fails in the chroot"; }
ok "in the chroot: $out"

step "upgrade of the .deb with a locally changed configuration"
up_version="$version.1"
dpkg --compare-versions "$up_version" gt "$version" || fail "$up_version is not higher than $version"
PKG_VERSION=$up_version PKG_OUT="$tmp/upgrade" timeout 600 bash "$here/build-packages.sh" "$bin" >/dev/null
up_deb="$tmp/upgrade/ha-agent_${up_version}_amd64.deb"
up_rpm="$tmp/upgrade/ha-agent-${up_version}-1.x86_64.rpm"
[ -f "$up_deb" ] || fail "the upgrade package $up_deb was not built"
[ -f "$up_rpm" ] || fail "the upgrade package $up_rpm was not built"
marker="# changed on this server $$-$RANDOM"
echo "$marker" >>"$R/etc/ha-agent/agent.toml"
cp "$up_deb" "$R/tmp/"
in_root "$R" dpkg -i "/tmp/$(basename "$up_deb")" >"$tmp/dpkg-upgrade.log" 2>&1 ||
  { cat "$tmp/dpkg-upgrade.log" >&2; fail "dpkg -i of version $up_version failed (did dpkg ask about the conffile?)"; }
[ "$(in_root "$R" dpkg-query -W -f "\${Version}" ha-agent)" = "$up_version" ] || fail "version $up_version is not installed after the upgrade"
grep -qxF "$marker" "$R/etc/ha-agent/agent.toml" || fail "the upgrade overwrote the changed /etc/ha-agent/agent.toml"
ok "upgrade $version -> $up_version kept the changed /etc/ha-agent/agent.toml"
[ -L "$wants" ] || fail "the upgrade disabled the unit"
in_root "$R" /usr/sbin/ha-agent check-config /etc/ha-agent/agent.toml >/dev/null || fail "check-config fails after the upgrade"
ok "after the upgrade: still enabled, check-config still passes"

step "remove and purge of the .deb"
in_root "$R" dpkg -r ha-agent >"$tmp/dpkg-remove.log" 2>&1 || { cat "$tmp/dpkg-remove.log" >&2; fail "dpkg -r ha-agent failed"; }
[ ! -e "$R/usr/sbin/ha-agent" ] || fail "dpkg -r left /usr/sbin/ha-agent"
[ ! -e "$unit" ] || fail "dpkg -r left the unit"
grep -qxF "$marker" "$R/etc/ha-agent/agent.toml" || fail "dpkg -r removed the changed configuration"
ok "dpkg -r: binary and unit gone, the configuration kept"
in_root "$R" dpkg -P ha-agent >"$tmp/dpkg-purge.log" 2>&1 || { cat "$tmp/dpkg-purge.log" >&2; fail "dpkg -P ha-agent failed"; }
[ ! -e "$R/etc/ha-agent/agent.toml" ] || fail "dpkg -P left /etc/ha-agent/agent.toml"
[ ! -L "$wants" ] || fail "dpkg -P left the unit's multi-user.target.wants link"
[ -f "$R/etc/ha-agent/cluster.key" ] || fail "dpkg -P removed the site's cluster key"
ok "dpkg -P: configuration and enablement gone, the site's cluster key kept"

# --- 4. The rpm ----------------------------------------------------------------------------
step "the .rpm in a second chroot (rpm --root)"
Q=$(new_root rpm)
rpm_in() { timeout 300 rpm --root "$Q" --dbpath /var/lib/rpm "$@" 2> >(grep -v -e 'should not be used directly' -e 'assuming you know what you are doing' >&2); }
rpm_in --initdb
# --nodeps: Debian's packages are not in the root's rpm database (the scriptlets need /bin/sh).
rpm_in -i --nodeps "$rpm_file" >"$tmp/rpm-install.log" 2>&1 || { cat "$tmp/rpm-install.log" >&2; fail "rpm -i failed"; }
for f in "${files[@]}"; do
  [ -f "$Q$f" ] || fail "after rpm -i: $f is missing"
done
[ -d "$Q/var/lib/ha-agent" ] || fail "after rpm -i: /var/lib/ha-agent is missing"
v=$(rpm_in -V --nodeps ha-agent 2>&1) || fail "rpm -V ha-agent: $v"
ok "rpm -i: all files installed, rpm -V clean"
# %post ran: its note (no key yet), and `systemctl preset`, which enables the unit here because
# Debian's preset policy enables what it does not name (a Red Hat policy disables it).
grep -q '^ha-agent: edit /etc/ha-agent/agent.toml' "$tmp/rpm-install.log" || fail "rpm -i: %post did not run (no note)"
[ -L "$Q/etc/systemd/system/multi-user.target.wants/ha-agent.service" ] || fail "rpm -i: %post did not preset the unit"
ok "rpm %post ran: note to the administrator, systemctl preset enabled the unit"
verify_unit "$Q" /usr/lib/systemd/system/ha-agent.service || fail "systemd-analyze verify does not accept the rpm's unit"
ok "systemd-analyze verify accepts the rpm's unit"
echo "$marker" >>"$Q/etc/ha-agent/agent.toml"
rpm_in -U --nodeps "$up_rpm" >"$tmp/rpm-upgrade.log" 2>&1 || { cat "$tmp/rpm-upgrade.log" >&2; fail "rpm -U $up_version failed"; }
[ "$(rpm_in -q --qf '%{VERSION}' ha-agent)" = "$up_version" ] || fail "rpm: version $up_version is not installed after rpm -U"
grep -qxF "$marker" "$Q/etc/ha-agent/agent.toml" || fail "rpm -U overwrote the changed /etc/ha-agent/agent.toml"
ok "rpm -U $version -> $up_version kept the changed /etc/ha-agent/agent.toml"
rpm_in -e --nodeps ha-agent >"$tmp/rpm-erase.log" 2>&1 || { cat "$tmp/rpm-erase.log" >&2; fail "rpm -e failed"; }
[ ! -e "$Q/usr/sbin/ha-agent" ] || fail "rpm -e left /usr/sbin/ha-agent"
[ ! -L "$Q/etc/systemd/system/multi-user.target.wants/ha-agent.service" ] || fail "rpm -e: %preun did not disable the unit"
grep -qxF "$marker" "$Q/etc/ha-agent/agent.toml.rpmsave" || fail "rpm -e did not keep the changed configuration as agent.toml.rpmsave"
ok "rpm -e: files gone, unit disabled, the changed configuration kept as agent.toml.rpmsave"

echo "test-packages: all $checks checks passed in $((SECONDS - started)) s (deb $(stat -c %s "$deb") bytes, rpm $(stat -c %s "$rpm_file") bytes)"
