#!/usr/bin/env bash
# Bundles an entry point into dist/<name>.mjs (scripts/build/bundle.ts says how and why), unless the bundle is
# newer than every source. Usage: scripts/bundle.sh NAME ENTRY   (prints the bundle's path)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
name="$1"
entry="$2"
out="$root/dist/$name.mjs"
if [ -f "$out" ] && [ -z "$(find "$root/src" "$root/package-lock.json" "$root/scripts/bundle.sh" "$root/scripts/bundle-shims" "$root/scripts/build" -newer "$out" -print -quit 2>/dev/null)" ]; then
  echo "$out"
  exit 0
fi
node="$root/node_modules/.bin/node"
if [ ! -x "$node" ] || [ ! -x "$root/node_modules/.bin/esbuild" ]; then
  echo "esbuild is missing: run npm run setup (scripts/setup.sh) first" >&2
  exit 1
fi
mkdir -p "$root/dist"
tmp="$out.$$.tmp.mjs"
env -u NODE_EXTRA_CA_CERTS "$node" "$root/scripts/build/bundle-main.ts" "$entry" "$tmp" >&2
mv -f "$tmp" "$out"
if [ -f "$tmp.map" ]; then mv -f "$tmp.map" "$out.map"; fi
echo "$out"
