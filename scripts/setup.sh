#!/usr/bin/env bash
# Sets up this machine for dobby-ts (idempotent): apt packages, npm dependencies, usocket for Node 24,
# the hybrid-cgroup fix crun needs, then the host check. Usage: bash scripts/setup.sh  (npm run setup)
# Env: DOBBY_SETUP_FORCE_NPM=1 re-runs npm ci even when node_modules looks current.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get and mount need it): sudo bash scripts/setup.sh"

# 1. Debian packages: runtime, monitor, bus, network tools, inits, OCI schema, graphviz, node-gyp's toolchain,
#    and the D-Bus clients the tests use (busctl from systemd, dbus-send/dbus-monitor, python3-dbus; perl for Mount)
#    and the bench's (python3-dbus on GLib's main loop: python3-gi);
#    for the release build (npm run build/package): the arm64 and armhf cross compilers, file, dpkg-dev's tools;
#    util-linux's chrt for the rtscheduling plugin (essential on Debian; listed so a slim image gets it too).
#    the storage plugin's tools: losetup/mount (util-linux, mount), mke2fs/e2fsck (e2fsprogs), getfattr/setfattr (attr);
#    openssl, which makes the httpproxy plugin test's proxy CA;
#    smcroute (smcrouted/smcroutectl), which routes the networking plugin's multicastForwarding groups.
apt_packages=(
  crun runc conmon busybox-static dbus iproute2 iptables tini catatonit util-linux smcroute
  golang-github-opencontainers-specs-dev graphviz python3 make g++ ca-certificates
  systemd dbus-bin python3-dbus python3-gi perl-base
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf file
  mount e2fsprogs attr openssl
)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "apt packages: all present"
fi

# The storage plugin attaches its images to loop devices.
if [ ! -e /dev/loop-control ]; then
  say "loop devices: modprobe loop"
  modprobe loop 2>/dev/null || say "warning: no /dev/loop-control and modprobe loop failed: the storage plugin's loop images will not work"
fi

# br_netfilter: bridged traffic between nat containers meets iptables only with it (the
# networking plugin refuses interContainer rules without it). Loaded now and at boot. ebtables
# (the link-layer checks) is the iptables package's ebtables-nft.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  say "loading br_netfilter"
  command -v modprobe >/dev/null 2>&1 || { apt-get install -y -qq --no-install-recommends kmod >/dev/null; }
  modprobe br_netfilter || die "modprobe br_netfilter failed: this kernel lacks the module (CONFIG_BRIDGE_NETFILTER)"
fi
command -v ebtables-restore >/dev/null 2>&1 || die "ebtables-restore is missing: the iptables package should provide it (update-alternatives --config ebtables)"
if [ -d /etc/modules-load.d ] && ! grep -qx br_netfilter /etc/modules-load.d/dobby.conf 2>/dev/null; then
  echo br_netfilter >> /etc/modules-load.d/dobby.conf
fi

# 2. npm dependencies (Node 24 itself comes from the npm package node@24).
npm_current() {
  [ -x node_modules/.bin/node ] && [ -f node_modules/.package-lock.json ] || return 1
  [ node_modules/.package-lock.json -nt package.json ] || return 1
  [ ! -f package-lock.json ] || [ node_modules/.package-lock.json -nt package-lock.json ] || return 1
  case "$(env -u NODE_EXTRA_CA_CERTS node_modules/.bin/node --version 2>/dev/null)" in v24.*) return 0 ;; *) return 1 ;; esac
}
if [ "${DOBBY_SETUP_FORCE_NPM:-0}" != 1 ] && npm_current; then
  say "npm dependencies: node_modules is current"
elif [ -f package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
else
  say "npm install (no package-lock.json)"
  npm install --no-audit --no-fund
fi
[ -x node_modules/.bin/node ] || die "node_modules/.bin/node is missing after npm: the node@24 dependency did not install"
node24=(env -u NODE_EXTRA_CA_CERTS "$root/node_modules/.bin/node")

# 3. The native addons (usocket, native/cloexec, native/unixdgram, native/spawn), built for Node 24 (npm builds against the user config's nodedir = Node 20).
"${node24[@]}" scripts/build-native.ts

# 4. crun 1.8 refuses hybrid cgroups while the cgroup2 hierarchy holds controllers:
#    give each such controller its own v1 hierarchy (the hugetlb fix).
mountinfo_field() { # $1 = awk condition on fstype (t) and controller count (n); prints mount points
  awk -v want="$1" '{
    for (i = 7; i <= NF; i++) if ($i == "-") break
    t = $(i + 1); n = 0; k = split($(i + 3), o, ",")
    for (j = 1; j <= k; j++)
      if (o[j] !~ /^(rw|ro|none|all|noprefix|clone_children|xattr|cpuset_v2_mode|favordynmods|name=.*|release_agent=.*)$/) n++
    if ((want == "v2" && t == "cgroup2") || (want == "v1" && t == "cgroup" && n > 0)) print $5
  }' /proc/self/mountinfo
}
cgroup2_mount="$(mountinfo_field v2 | head -n1)"
v1_mount="$(mountinfo_field v1 | head -n1)"
if [ -n "$cgroup2_mount" ] && [ -n "$v1_mount" ]; then
  held="$(cat "$cgroup2_mount/cgroup.controllers" 2>/dev/null || true)"
  if [ -n "${held// /}" ]; then
    base="$(dirname "$v1_mount")"
    for c in $held; do
      say "cgroups: crun refuses hybrid cgroups while cgroup2 holds $c: mkdir -p $base/$c && mount -t cgroup -o $c cgroup $base/$c"
      mkdir -p "$base/$c" || die "could not create $base/$c"
      mount -t cgroup -o "$c" cgroup "$base/$c" || die "could not mount the $c controller at $base/$c"
    done
  else
    say "cgroups: hybrid, cgroup2 at $cgroup2_mount holds no controllers (fine for crun)"
  fi
elif [ -n "$cgroup2_mount" ]; then
  say "cgroups: cgroup2 only, at $cgroup2_mount (no fix needed)"
else
  say "cgroups: v1 only (no fix needed)"
fi

# 5. Dobby's bundles and spec containers name /usr/libexec/DobbyInit as the container's init. Spec
#    containers see the host's /usr read-only with our init bind-mounted there, and a bind mount
#    needs an existing target; a host without Dobby gets Debian's static tini (the same init) there.
if [ ! -e /usr/libexec/DobbyInit ]; then
  say "installing /usr/libexec/DobbyInit (a copy of /usr/bin/tini-static)"
  install -D -m 0755 /usr/bin/tini-static /usr/libexec/DobbyInit
fi

# 6. Verify with the host check (with --private-bus: tests and the demo start their own bus).
say "host check: bin/dobbyd doctor --private-bus"
bin/dobbyd doctor --private-bus || die "the host check found fatal problems (above)"
say "done"
