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
if [ -f "$out" ] && [ -z "$(find "$root/src" "$root/package-lock.json" "$root/scripts/bundle.sh" "$root/scripts/bundle-shims" -newer "$out" -print -quit 2>/dev/null)" ]; then
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
# Each option below was measured on the idle daemon (VmRSS, 1.5 s after start; npm run bench):
# - --minify-whitespace drops the comments too: a few of xstate's contain non-Latin-1 characters (’),
#   which make V8 hold the whole 1.5 MB source as a two-byte string (-2.1 MiB). --minify-syntax:
#   -0.3 MiB more. Identifiers are kept (stack traces and class names stay readable).
# - rxjs: its exports map sends platform=node to the CommonJS build, which esbuild cannot tree-shake
#   (336 KiB, all of it run at load); its ES2015 build leaves the 12 KiB we use (-1.6 MiB).
# - crypto and xml2js, as required by dbus-next, are loaded on first use (scripts/bundle-shims say why).
# - WebAssembly is undefined inside the bundle. Its one user is long.js (dbus-next's 64-bit integers),
#   which instantiates a tiny module for faster multiply/divide when it loads and falls back to its
#   own JavaScript (same results) without it; V8's wasm decoder and compiler cost ~0.8 MiB resident
#   for speed a few int64s per message never need. Plugins are not bundled: they keep WebAssembly
#   (Node's TypeScript stripping needs it).
"$esbuild" "$root/$entry" --bundle --platform=node --format=esm --target=node24 --log-level=warning \
  --external:usocket --external:x11 \
  --minify-whitespace --minify-syntax \
  --alias:rxjs="$root/node_modules/rxjs/dist/esm/index.js" \
  --alias:crypto="$root/scripts/bundle-shims/crypto.cjs" \
  --alias:xml2js="$root/scripts/bundle-shims/xml2js.cjs" \
  --define:WebAssembly=undefined \
  --banner:js="import { createRequire as __dobbyCreateRequire } from 'node:module'; const require = __dobbyCreateRequire(import.meta.url);" \
  --outfile="$tmp"
mv -f "$tmp" "$out"
echo "$out"
