#!/usr/bin/env bash
# npm run demo: starts dobbyd on a private D-Bus bus and runs a sample busybox container through the dobby CLI.
# Usage: bash scripts/demo.sh   (after bash scripts/setup.sh). Exits with the container's exit code.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
unset NODE_EXTRA_CA_CERTS
node="$root/node_modules/.bin/node"
say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }
[ -x "$node" ] || die "dobby-ts is not set up: run npm run setup (scripts/setup.sh) first"
[ "$(id -u)" -eq 0 ] || die "run as root: containers need it"
busybox="$(command -v busybox || true)"
[ -n "$busybox" ] || die "busybox is missing: apt-get install busybox-static"

tmp="$(mktemp -d /tmp/dobby-demo.XXXXXX)"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. A sample OCI bundle: busybox-static in an otherwise empty rootfs, crun's default config.json.
bundle="$tmp/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp "$busybox" "$bundle/rootfs/bin/busybox"
for applet in sh echo cat ls uname hostname id sleep; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
(cd "$bundle" && { crun spec 2>/dev/null || runc spec; })
"$node" -e '
  const fs = require("node:fs");
  const path = process.argv[1];
  const config = JSON.parse(fs.readFileSync(path, "utf8"));
  config.process.terminal = false;
  config.process.args = ["sh", "-c", "echo hello from busybox in dobby-ts; echo hostname: $(hostname); echo kernel: $(uname -r); id"];
  config.hostname = "dobby-demo";
  fs.writeFileSync(path, JSON.stringify(config, null, 2) + "\n");
' "$bundle/config.json"
say "bundle: $bundle"

# 2. The daemon, on a private bus; it prints DBUS_ADDRESS=<address> on stdout once ready.
mkdir -p "$tmp/state"
"$root/bin/dobbyd" --private-bus --state-dir "$tmp/state" >"$tmp/dobbyd.out" 2>"$tmp/dobbyd.log" &
daemon_pid=$!
address=""
for _ in $(seq 300); do
  address="$(sed -n 's/^DBUS_ADDRESS=//p' "$tmp/dobbyd.out" | head -n1)"
  [ -n "$address" ] && break
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    cat "$tmp/dobbyd.out" "$tmp/dobbyd.log" >&2 || true
    daemon_pid=""
    die "dobbyd exited before it was ready (its output is above)"
  fi
  sleep 0.1
done
if [ -z "$address" ]; then
  tail -n 40 "$tmp/dobbyd.log" >&2 || true
  die "dobbyd printed no DBUS_ADDRESS= line within 30 s"
fi
say "dobbyd (pid $daemon_pid) serves on $address"

# 3. Run the container through the CLI: it prints the container's output and exits with its code.
id="demo-$$"
say "dobby run $id"
set +e
"$root/bin/dobby" --dbus-address "$address" run "$id" "$bundle"
status=$?
set -e
say "container $id exited with $status; its console output (kept by conmon in the state dir):"
# conmon's k8s-file lines are "<time> <stream> <F|P> <text>": show the text.
sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$tmp/state/logs/$id.log" | sed 's/^/    /' || say "no console log found"

# 4. Shut the daemon down and wait for it.
"$root/bin/dobby" --dbus-address "$address" shutdown || say "shutdown call failed; stopping dobbyd with SIGTERM"
for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon_pid" 2>/dev/null; then
  say "dobbyd did not exit within 10 s of shutdown; it is stopped by the cleanup"
else
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
  say "dobbyd stopped"
fi
exit "$status"
