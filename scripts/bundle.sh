#!/usr/bin/env bash
# Bundles an entry point into dist/<name>.mjs with esbuild, unless the bundle is newer than every source.
# Why: Node 24 running .ts loads its TypeScript stripper (+18 MB resident) and resolves hundreds of
# modules at start; one bundled .mjs starts faster and keeps the daemon small.
# Usage: scripts/bundle.sh NAME ENTRY   (prints the bundle's path)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
name="$1"
entry="$2"
out="$root/dist/$name.mjs"
esbuild="$root/node_modules/.bin/esbuild"
if [ -f "$out" ] && [ -z "$(find "$root/src" "$root/package-lock.json" -newer "$out" -print -quit 2>/dev/null)" ]; then
  echo "$out"
  exit 0
fi
if [ ! -x "$esbuild" ]; then
  echo "esbuild is missing: run npm run setup (scripts/setup.sh) first" >&2
  exit 1
fi
mkdir -p "$root/dist"
tmp="$out.$$.tmp"
# usocket is a native addon and x11 an optional dependency of dbus-next: both stay outside the bundle.
"$esbuild" "$root/$entry" --bundle --platform=node --format=esm --target=node24 --log-level=warning \
  --external:usocket --external:x11 \
  --banner:js="import { createRequire as __dobbyCreateRequire } from 'node:module'; const require = __dobbyCreateRequire(import.meta.url);" \
  --outfile="$tmp"
mv -f "$tmp" "$out"
echo "$out"
