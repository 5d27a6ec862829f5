#!/usr/bin/env bash
# Installs a dobby-ts .deb into a clean root and runs the demo there: the root is an overlay over this machine's /
# in a private mount namespace (run under `unshare -m --propagation private`), made the namespace's root with
# pivot_root (in a chroot the kernel refuses user namespaces, which spec containers use), with the checkouts
# (/work), npm, Debian's Go schema package and any Dobby init hidden, and /run, /tmp of its own. dobbyd is started by
# its unit's ExecStart line by hand (no systemd here) on a system bus of its own, then StartFromSpec and StartFromBundle.
# Usage: install-in-root.sh DEB SCRATCH_DIR ID_PREFIX   (prints "key: value" lines the test checks; exit 0 = all done)
set -euo pipefail
say() { printf '%s\n' "$*"; }

if [ "${DOBBY_IN_ROOT:-}" != 1 ]; then
  deb="$1"; scratch="$2"; ids="$3"
  ovl="$scratch/overlay"
  mkdir -p "$ovl"
  # The upper layer on a tmpfs: overlayfs refuses an upper dir inside its own lower dir (/).
  mount -t tmpfs -o mode=0755 tmpfs "$ovl"
  mkdir "$ovl/upper" "$ovl/work" "$ovl/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/root"
  r="$ovl/root"
  mount --rbind /dev "$r/dev"
  mount --rbind /sys "$r/sys"
  for d in /run /tmp /root /work; do mount -t tmpfs -o mode=0755 tmpfs "$r$d"; done
  chmod 1777 "$r/tmp"
  # Not on a device: npm, the Go package's schema, a Node 24 of the checkout's, a Dobby init.
  for d in /usr/share/gocode /usr/share/nodejs /usr/lib/node_modules /usr/local/lib/node_modules; do
    [ ! -d "$r$d" ] || mount -t tmpfs tmpfs "$r$d"
  done
  rm -f "$r/usr/bin/npm" "$r/usr/bin/npx" "$r/usr/libexec/DobbyInit"
  cp "$deb" "$r/tmp/dobby-ts.deb"
  cp "${BASH_SOURCE[0]}" "$r/tmp/install-in-root.sh"
  cp "$(command -v busybox)" "$r/tmp/busybox"
  mkdir -p "$r/.old-root"
  cd "$r"
  pivot_root . .old-root
  mount -t proc proc /proc
  umount -l /.old-root
  rmdir /.old-root
  exec /usr/bin/env -i DOBBY_IN_ROOT=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash /tmp/install-in-root.sh "$ids"
fi

# In the clean root from here on.
ids="$1"
scratch=/tmp/out
mkdir -p "$scratch"
fail() { say "FAILED: $*"; for f in "$scratch"/*; do say "--- $f"; cat "$f"; done; exit 1; }
say "root-npm: $(sh -c 'command -v npm || echo none')"
say "root-schema: $(sh -c 'ls /usr/share/gocode | wc -l')"
say "root-work: $(sh -c 'ls -A /work | wc -l')"
say "root-node: $(sh -c 'node --version 2>/dev/null || echo none')"

dpkg -i /tmp/dobby-ts.deb >"$scratch/dpkg-install.log" 2>&1 || fail "dpkg -i"
say "installed: $(dpkg-query -W -f='${Status} ${Version}' dobby-ts)"
say "DobbyDaemon: $(readlink -f /usr/sbin/DobbyDaemon)"
say "DobbyTool: $(readlink -f /usr/bin/DobbyTool)"
say "DobbyInit: $(sh -c 'cmp -s /usr/libexec/DobbyInit /usr/lib/dobby-ts/libexec/DobbyInit && echo ours || echo other')"
say "dobbyd-version: $(dobbyd --version)"
say "dobby-version: $(dobby --version)"

daemon=""
bus=""
cleanup() {
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon" 2>/dev/null || true
  fi
  [ -z "$bus" ] || kill -TERM "$bus" 2>/dev/null || true
}
trap cleanup EXIT

# The system bus (Debian's system.conf, with the package's policy from /usr/share/dbus-1/system.d), in our /run.
mkdir -p "/run/dbus"
bus="$(dbus-daemon --system --fork --print-pid)"
say "doctor: $(dobbyd doctor 2>&1 | tr '\n' ' ')"

# The unit's ExecStart, by hand, with the clean environment systemd would give it.
exec_start="$(sed -n 's/^ExecStart=//p' "/lib/systemd/system/dobbyd.service")"
say "exec-start: $exec_start"
# shellcheck disable=SC2086 # the ExecStart line is split into words, as systemd does
$exec_start >"$scratch/dobbyd.out" 2>"$scratch/dobbyd.log" &
daemon=$!
owned=""
for _ in $(seq 300); do
  if dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.rdk.dobby 2>/dev/null | grep -q 'boolean true'; then owned=yes; break; fi
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$owned" ]; then
  fail "dobbyd did not take org.rdk.dobby"
fi
say "serving: org.rdk.dobby"
say "introspect: $(dbus-send --system --print-reply --dest=org.rdk.dobby /org/rdk/dobby org.freedesktop.DBus.Introspectable.Introspect | grep -o '<annotation name="org.rdk.dobby.[A-Za-z]*" value="[^"]*"/>' | tr '\n' ' ')"
sleep 2
say "idle-rss-kib: $(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon/status" 2>/dev/null || echo unknown)"

# StartFromSpec: a Dobby spec; the container runs the root's own /bin/sh under the package's init.
cat >"/tmp/spec.json" <<JSON
{ "version": "1.0", "args": ["sh", "-c", "echo spec-ok from \$(cat /proc/1/comm); exit 7"], "user": { "uid": 1000, "gid": 1000 }, "memLimit": 41943040 }
JSON
set +e
dobby run "$ids-spec" /tmp/spec.json >"$scratch/spec.out" 2>&1
say "spec-exit: $?"
set -e
say "spec-output: $(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "/run/dobby/logs/$ids-spec.log" 2>/dev/null | tr '\n' ' ')"

# StartFromBundle: an OCI bundle of busybox-static, through Dobby's own client name.
b="/tmp/bundle"
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
cp /tmp/busybox "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sh"
(cd "$b" && crun spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo bundle-ok; exit 3"/' "$b/config.json"
set +e
DobbyTool run "$ids-bundle" /tmp/bundle >"$scratch/bundle.out" 2>&1
say "bundle-exit: $?"
set -e
say "bundle-output: $(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "/run/dobby/logs/$ids-bundle.log" 2>/dev/null | tr '\n' ' ')"

kill -TERM "$daemon"
set +e
wait "$daemon"
say "daemon-exit: $?"
set -e
daemon=""
# The host check knows where the package keeps its parts: without the bus policy, its fix names the packaged one.
mv /usr/share/dbus-1/system.d/org.rdk.dobby.conf /tmp/policy.conf
say "doctor-no-policy: $(dobbyd doctor 2>&1 | grep -o 'fix: install -m 0644 [^ ]*' || true)"
mv /tmp/policy.conf /usr/share/dbus-1/system.d/org.rdk.dobby.conf
dpkg -r dobby-ts >"$scratch/dpkg-remove.log" 2>&1 || fail "dpkg -r"
say "left-after-remove: $(ls -d /usr/lib/dobby-ts /usr/sbin/dobbyd /usr/sbin/DobbyDaemon /usr/bin/DobbyTool /usr/libexec/DobbyInit 2>/dev/null | tr '\n' ' ')"
