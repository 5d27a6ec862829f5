#!/usr/bin/env bash
# npm test: type-check the whole project, then run every node:test file with Node 24.
# Arguments go to scripts/run-tests.ts: [all|unit|integration] [FILTER...] [-- NODE_TEST_ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
unset NODE_EXTRA_CA_CERTS
node="$root/node_modules/.bin/node"
[ -x "$node" ] || { echo "dobby-ts is not set up: run npm run setup (scripts/setup.sh) first" >&2; exit 1; }

echo "== type-check: tsc --noEmit -p ."
"$node" node_modules/typescript/bin/tsc --noEmit -p .
echo "== tests"
exec "$node" scripts/run-tests.ts "$@"
