#!/bin/sh
# @PROGRAM@ from a dobby-ts release tree (@VERSION@, linux-@ARCH@): runs lib/@ENTRY@.mjs with Node 24.
# Node: `--node PATH` as the first argument, else $DOBBY_NODE, else node/bin/node in this tree, else node on the PATH.
set -eu
tree="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
node="${DOBBY_NODE:-}"
if [ "${1:-}" = "--node" ]; then
  [ $# -ge 2 ] || { echo "@PROGRAM@: --node needs the path of a Node 24 binary" >&2; exit 2; }
  node="$2"
  shift 2
fi
[ -n "$node" ] || [ ! -x "$tree/node/bin/node" ] || node="$tree/node/bin/node"
[ -n "$node" ] || node="$(command -v node || true)"
if [ -z "$node" ]; then
  echo "@PROGRAM@: no Node 24: give --node PATH, set DOBBY_NODE, or put node on the PATH" >&2
  exit 1
fi
version="$("$node" --version 2>/dev/null || true)"
case "$version" in
  v24.*) ;;
  *) echo "@PROGRAM@: $node is Node ${version:-(does not run)}, and dobby-ts needs Node 24 (give --node PATH or set DOBBY_NODE)" >&2; exit 1 ;;
esac
unset NODE_EXTRA_CA_CERTS
@BODY@
