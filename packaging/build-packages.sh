#!/usr/bin/env bash
# Builds the server-side packages of the agent (role "node" under systemd):
#   out/packages/ha-agent_<version>_amd64.deb      (dpkg-deb)
#   out/packages/ha-agent-<version>-1.x86_64.rpm   (rpmbuild from Debian's rpm package)
# Usage: packaging/build-packages.sh AGENT_BINARY   (make packages passes the static agent of
# `make agent`). PKG_VERSION overrides the version of agent/Cargo.toml; PKG_OUT the output
# directory; PKG_MAINTAINER the packages' maintainer field.
set -euo pipefail

bin=${1:?usage: packaging/build-packages.sh AGENT_BINARY (the static agent of make agent)}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
  echo "build-packages: $bin is not an executable file (make agent)"; exit 1
fi
if ! file -b "$bin" | grep -q 'statically linked'; then
  echo "build-packages: $bin is not statically linked; build it with make agent"; exit 1
fi

version=${PKG_VERSION:-$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$repo/agent/Cargo.toml" | head -n 1)}
# One version string valid for both formats: rpm's Version takes no '-', dpkg's needs a digit first.
if ! [[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
  echo "build-packages: version '$version' must start with a digit and hold only 0-9 A-Z a-z . + ~"; exit 1
fi
out=${PKG_OUT:-$repo/out/packages}
maintainer=${PKG_MAINTAINER:-ha-agent maintainers <root@localhost>}
deb="$out/ha-agent_${version}_amd64.deb"
rpm_file="$out/ha-agent-${version}-1.x86_64.rpm"

# The tools, installed once (like scripts/setup.sh).
need_pkgs=()
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
command -v rpmbuild >/dev/null || need_pkgs+=(rpm)
command -v file >/dev/null || need_pkgs+=(file)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "build-packages: installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ha-agent-packages.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
# Every file gets the time of the last commit: the same tree gives the same contents.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# --- The tree both packages install --------------------------------------------------------
doc=usr/share/doc/ha-agent
install -D -m 0755 "$bin" "$root/usr/sbin/ha-agent"
# The fence agent another cluster's fencer runs (docs/fence-agent.md): the same binary, which
# acts as fence_rackha when called by that name.
ln -s ha-agent "$root/usr/sbin/fence_rackha"
install -D -m 0644 "$here/ha-agent.service" "$root/usr/lib/systemd/system/ha-agent.service"
install -D -m 0644 "$here/agent.toml" "$root/etc/ha-agent/agent.toml"
install -D -m 0644 "$repo/agent/mib/RACK-HA-MIB.txt" "$root/usr/share/snmp/mibs/RACK-HA-MIB.txt"
install -d -m 0755 "$root/var/lib/ha-agent" "$root/usr/share/man/man8" "$root/$doc/examples"
gzip -9 -n -c "$here/ha-agent.8" >"$root/usr/share/man/man8/ha-agent.8.gz"
chmod 0644 "$root/usr/share/man/man8/ha-agent.8.gz"
# The man page's command sections and the completion are generated from the agent's command
# table (make cli-docs; a unit test keeps the shipped files equal to it).
install -D -m 0644 "$here/ha-agent.bash-completion" "$root/usr/share/bash-completion/completions/ha-agent"
install -m 0644 "$repo/README.md" "$repo/LICENSE" "$root/$doc/"
install -m 0644 "$repo"/docs/*.md "$root/$doc/"
# The example configurations, without docs/examples/cluster.key: that key is public, and no
# key file may ship in a package that installs on real servers.
install -m 0644 "$repo"/docs/examples/*.toml "$root/$doc/examples/"

# The copyright file: this project, and the crates statically linked into the agent.
{
  cat <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ha-agent
Comment: The rack HA controller's agent. The binary /usr/sbin/ha-agent is statically linked
 with the Rust standard library (MIT or Apache-2.0), the GNU C library (LGPL-2.1+) and the
 crates listed below.

Files: *
Copyright: the ha-agent authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0; the full text is in
 /usr/share/doc/ha-agent/LICENSE (on Debian systems also in
 /usr/share/common-licenses/Apache-2.0).

Comment: Crates statically linked into /usr/sbin/ha-agent (name, version, license):
EOF
  cargo metadata --locked --offline --format-version 1 --manifest-path "$repo/Cargo.toml" \
    --filter-platform x86_64-unknown-linux-musl | python3 -c '
import json, sys
meta = json.load(sys.stdin)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p["id"] for p in meta["packages"] if p["name"] == "ha-agent")
seen, todo = set(), [root]
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        target = packages[dep["pkg"]]
        linked = any(k["kind"] is None for k in dep["dep_kinds"])
        macro = any("proc-macro" in t["kind"] for t in target["targets"])
        if linked and not macro:
            todo.append(dep["pkg"])
for pid in sorted(seen - {root}, key=lambda i: (packages[i]["name"], packages[i]["version"])):
    p = packages[pid]
    print(" %s %s: %s" % (p["name"], p["version"], p["license"] or "see the crate"))
'
} >"$root/$doc/copyright"
chmod 0644 "$root/$doc/copyright"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
installed_kib=$(du -sk --apparent-size "$root" | cut -f1)

mkdir -p "$out"

# --- Debian package ------------------------------------------------------------------------
debroot="$work/deb"
cp -a "$root" "$debroot"
mkdir -m 0755 "$debroot/DEBIAN"
cat >"$debroot/DEBIAN/control" <<EOF
Package: ha-agent
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_kib
Section: admin
Priority: optional
Recommends: procps, resource-agents
Suggests: snmptrapd
Description: rack high-availability agent for two database servers
 A management box (the witness) keeps exactly one of two database servers
 active: authenticated heartbeats over RS-232, UDP and raw Ethernet, power
 fencing through relays, hardware watchdogs, SNMP notifications.
 .
 This package runs the agent on a database server (role "node") under
 systemd: the static binary, the unit ha-agent.service, a template of
 /etc/ha-agent/agent.toml, the MIB, the manual page, bash completion and
 the documentation. It also ships /usr/sbin/fence_rackha, the fence agent
 a Pacemaker cluster uses to fence its nodes through the box's relays.
 The cluster key is made on site (man 8 ha-agent).
EOF
# Upgrades never overwrite a changed configuration.
echo /etc/ha-agent/agent.toml >"$debroot/DEBIAN/conffiles"

cat >"$debroot/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# ha-agent postinst: enable the unit on first installation (deb-systemd-helper keeps the
# administrator's later choice on upgrades). The agent is never started or restarted here: it
# has to be configured first, and restarting the holder's agent moves the service.
set -e
case "$1" in
configure|abort-upgrade|abort-deconfigure|abort-remove)
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper unmask ha-agent.service >/dev/null || true
        if deb-systemd-helper --quiet was-enabled ha-agent.service; then
            deb-systemd-helper enable ha-agent.service >/dev/null || true
        else
            deb-systemd-helper update-state ha-agent.service >/dev/null || true
        fi
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
    fi
    if [ "$1" = configure ]; then
        if [ ! -e /etc/ha-agent/cluster.key ]; then
            echo "ha-agent: edit /etc/ha-agent/agent.toml, make /etc/ha-agent/cluster.key (man 8 ha-agent), then: systemctl start ha-agent"
        elif [ -n "$2" ] && [ -d /run/systemd/system ] && systemctl --quiet is-active ha-agent.service; then
            echo "ha-agent: the running agent is still the previous version; restart it (systemctl restart ha-agent) in maintenance mode or where the service may move"
        fi
    fi
    ;;
esac
exit 0
EOF

cat >"$debroot/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# ha-agent prerm: on removal, stop the agent. On the holder that is a graceful stop: the agent
# stops its resources and the witness hands the service to the other node, without a fence.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    if command -v deb-systemd-invoke >/dev/null 2>&1; then
        deb-systemd-invoke stop ha-agent.service >/dev/null || true
    else
        systemctl stop ha-agent.service >/dev/null || true
    fi
fi
exit 0
EOF

cat >"$debroot/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# ha-agent postrm: forget the unit. /var/lib/ha-agent (boot counter, generation, journal) and
# /etc/ha-agent/cluster.key stay, even on purge: a reinstalled agent must not reuse boot ids
# its peers have already seen.
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge ha-agent.service >/dev/null || true
    deb-systemd-helper unmask ha-agent.service >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$debroot/DEBIAN/postinst" "$debroot/DEBIAN/prerm" "$debroot/DEBIAN/postrm"
# md5sums of every file but the conffiles (dpkg keeps those itself).
(cd "$debroot" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
  grep -vxF -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -d '\n' md5sum) >"$debroot/DEBIAN/md5sums"
chmod 0644 "$debroot/DEBIAN/"{control,conffiles,md5sums}
find "$debroot/DEBIAN" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$debroot" "$deb" >/dev/null

# --- RPM package ---------------------------------------------------------------------------
# Debian's rpm has no systemd macros, so the scriptlets say what %systemd_post, %systemd_preun
# and %systemd_postun do: preset on first installation (the distribution's or the site's
# preset policy decides whether the unit is enabled), stop and disable on removal, reload
# systemd after every change. Like the Debian package, an upgrade does not restart the agent.
top="$work/rpmbuild"
mkdir -p "$top"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
spec="$top/SPECS/ha-agent.spec"
cat >"$spec" <<'EOF'
Name:           ha-agent
Version:        %{pkg_version}
Release:        1
Summary:        Rack high-availability agent for two database servers
License:        Apache-2.0
BuildArch:      x86_64
# The resources of the packaged agent.toml are OCF agents from resource-agents.
Recommends:     resource-agents
# The binary is static and already stripped: no debuginfo package, no build-id links, no
# stripping or byte-compiling by the build root policy.
%global debug_package %{nil}
%global _build_id_links none
%global __os_install_post %{nil}

%description
A management box (the witness) keeps exactly one of two database servers active:
authenticated heartbeats over RS-232, UDP and raw Ethernet, power fencing through relays,
hardware watchdogs, SNMP notifications. This package runs the agent on a database server
(role "node") under systemd: the static binary, the unit ha-agent.service, a template of
/etc/ha-agent/agent.toml, the MIB, the manual page and the documentation. The cluster key is
made on site (man 8 ha-agent).

%install
cp -a %{stage_root}/. %{buildroot}/

%post
if [ $1 -eq 1 ]; then
    systemctl --no-reload preset ha-agent.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ ! -e /etc/ha-agent/cluster.key ]; then
    echo "ha-agent: edit /etc/ha-agent/agent.toml, make /etc/ha-agent/cluster.key (man 8 ha-agent), then: systemctl enable --now ha-agent"
fi

%preun
if [ $1 -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop ha-agent.service >/dev/null 2>&1 || :
    fi
    systemctl --no-reload disable ha-agent.service >/dev/null 2>&1 || :
fi

%postun
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi

%files
%defattr(-,root,root,-)
/usr/sbin/ha-agent
/usr/sbin/fence_rackha
/usr/lib/systemd/system/ha-agent.service
%dir /etc/ha-agent
%config(noreplace) /etc/ha-agent/agent.toml
/usr/share/snmp/mibs/RACK-HA-MIB.txt
/usr/share/man/man8/ha-agent.8.gz
/usr/share/bash-completion/completions/ha-agent
/usr/share/doc/ha-agent
%dir /var/lib/ha-agent
EOF
rpm_log="$work/rpmbuild.log"
if ! rpmbuild -bb --quiet --target x86_64-linux \
    --define "_topdir $top" --define "pkg_version $version" --define "stage_root $root" \
    --define "_binary_payload w9.xzdio" --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" --define "packager $maintainer" \
    "$spec" >"$rpm_log" 2>&1; then
  echo "build-packages: rpmbuild failed:"; tail -n 40 "$rpm_log"; exit 1
fi
built=$(find "$top/RPMS" -name '*.rpm' -print)
if [ -z "$built" ] || [ "$(printf '%s\n' "$built" | wc -l)" -ne 1 ]; then
  echo "build-packages: expected one rpm, rpmbuild made: ${built:-none}"; exit 1
fi
mv "$built" "$rpm_file"

printf 'build-packages: %s (%s bytes)\n' "$deb" "$(stat -c %s "$deb")"
printf 'build-packages: %s (%s bytes)\n' "$rpm_file" "$(stat -c %s "$rpm_file")"
printf 'build-packages: version %s, %s KiB installed\n' "$version" "$installed_kib"
