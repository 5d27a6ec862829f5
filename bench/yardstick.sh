#!/bin/bash
# The bench's yardsticks: what a shell user pays for the same work with crun (and conmon) directly.
# Each timed subcommand starts its jobs in parallel (one per container), waits for all, and prints
# the wall time in microseconds, from bash's $EPOCHREALTIME (no Node anywhere near the clock).
#
#   raw-start ROOT ID=BUNDLE...          crun run --detach, then crun state says "running"
#   conmon-start ROOT MONDIR ID=DIR...   conmon in DIR (a dir of its own holding config.json) runs
#                                        crun create; the pid is read from its sync pipe; crun start
#   nat-start ROOT BRIDGE ID=BUNDLE=N... crun run --detach (console to a file), then dobbyd's nat
#                                        set-up: veth on the bridge, address and route inside, one
#                                        iptables-restore per family; crun state says "running"
#   nat-stop ROOT ID=N...                crun kill TERM, wait for the init to die, crun delete, veth
#                                        and rules removed
#   delete ROOT ID...                    crun delete --force (untimed clean-up)
#   nat-setup BRIDGE / nat-teardown BRIDGE   the bridge and the chains (untimed)
# Run the nat subcommands inside the bench's own network namespace (nsenter --net=...).

set -u
SUBNET=100.66.0
CHAIN=YS



# Runs "$@" as one job per remaining word; fails if any job failed; prints the elapsed µs.
parallel() {
  local fn=$1; shift
  local pids=() t0=${EPOCHREALTIME/./} t1 failed=0
  for job in "$@"; do "$fn" "$job" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  t1=${EPOCHREALTIME/./}
  [ $failed -eq 0 ] || { echo "a $fn job failed" >&2; exit 1; }
  echo $((t1 - t0))
}

running() { # ROOT ID: crun state says running
  local out; out=$(crun --root "$1" state "$2") || return 1
  [[ $out == *'"status": "running"'* ]] || { echo "$2 is not running: $out" >&2; return 1; }
}

raw_one() {
  local id=${1%%=*} bundle=${1#*=}
  crun --root "$ROOT" run --detach --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1 || { echo "crun run $id failed" >&2; return 1; }
  running "$ROOT" "$id"
}

conmon_one() {
  local id=${1%%=*} dir=${1#*=} line fd
  # conmon writes {"data": <pid>} to the sync pipe once crun create is done; a FIFO of ours is the pipe.
  mkfifo "$dir/sync"
  exec {fd}<>"$dir/sync"
  _OCI_SYNCPIPE=$fd conmon --api-version 1 -c "$id" -u "$id" -n "$id" -r "$(command -v crun)" -b "$dir" \
    -p "$dir/pid" -P "$dir/conmon.pid" -l "k8s-file:$dir/console.log" --exit-dir "$MONDIR/exits" \
    --socket-dir-path "$MONDIR/sockets" --persist-dir "$dir" --runtime-arg "--root=$ROOT" </dev/null >/dev/null 2>&1
  read -r -u "$fd" line || { echo "conmon $id said nothing" >&2; return 1; }
  exec {fd}>&-
  rm -f "$dir/sync"
  [[ $line =~ \"data\":\ *([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] || { echo "conmon $id: $line" >&2; return 1; }
  crun --root "$ROOT" start "$id" || return 1
}

nat_one() {
  local id bundle n pid
  IFS='=' read -r id bundle n <<<"$1"
  crun --root "$ROOT" run --detach --bundle "$bundle" --pid-file "$bundle/pid" "$id" </dev/null >"$bundle/console.log" 2>&1 \
    || { echo "crun run $id failed: $(cat "$bundle/console.log")" >&2; return 1; }
  read -r pid <"$bundle/pid"
  # The peer is made in the container's namespace, as dobbyd makes it (a move would cost an RCU grace period).
  ip -batch - <<EOF || return 1
link add ysv$n type veth peer name ysp$n netns $pid
link set ysv$n master $BRIDGE
link set ysv$n up
EOF
  nsenter --net=/proc/$pid/ns/net -- ip -batch - <<EOF || return 1
link set ysp$n name eth0
addr add $SUBNET.$((n + 10))/24 dev eth0
link set eth0 up
link set lo up
route add default via $SUBNET.1
EOF
  rules4 "-I" "$id" "$n" | iptables-restore --noflush -w || return 1
  rules6 "-I" "$id" "$n" | ip6tables-restore --noflush -w || return 1
  running "$ROOT" "$id"
}

# dobbyd's per-container rules: anti-spoofing on the bridge port (v4: forward and input; v6: forward).
rules4() {
  local rule="! -s $SUBNET.$(($3 + 10))/32 -i $BRIDGE -m physdev --physdev-in ysv$3 -m comment --comment ys:$2 -j DROP"
  printf '*filter\n%s %s-FORWARD %s\n%s %s-INPUT %s\nCOMMIT\n' "$1" "$CHAIN" "$rule" "$1" "$CHAIN" "$rule"
}
rules6() {
  printf '*filter\n%s %s-FORWARD -i %s -m physdev --physdev-in ysv%s -m comment --comment ys:%s -j DROP\nCOMMIT\n' "$1" "$CHAIN" "$BRIDGE" "$3" "$2"
}

nat_stop_one() {
  local id=${1%%=*} n=${1#*=} pid out st
  out=$(crun --root "$ROOT" state "$id") || return 1
  [[ $out =~ \"pid\":\ *([0-9]+) ]] && pid=${BASH_REMATCH[1]}
  crun --root "$ROOT" kill "$id" TERM || return 1
  while read -r st 2>/dev/null <"/proc/$pid/stat"; do   # until gone or a zombie (PID 1 reaps lazily)
    st=${st##*) }; [ "${st:0:1}" = Z ] && break
  done
  crun --root "$ROOT" delete "$id" || return 1
  ip link del "ysv$n" 2>/dev/null   # gone with the container's namespace already, as a rule
  rules4 "-D" "$id" "$n" | iptables-restore --noflush -w || return 1
  rules6 "-D" "$id" "$n" | ip6tables-restore --noflush -w || return 1
}

delete_one() { crun --root "$ROOT" delete --force "$1" >/dev/null 2>&1 || true; }

cmd=$1; shift
case $cmd in
  raw-start) ROOT=$1; shift; parallel raw_one "$@" ;;
  conmon-start) ROOT=$1; MONDIR=$2; shift 2; mkdir -p "$MONDIR/exits" "$MONDIR/sockets"; parallel conmon_one "$@" ;;
  nat-start) ROOT=$1; BRIDGE=$2; shift 2; parallel nat_one "$@" ;;
  nat-stop) ROOT=$1; shift; parallel nat_stop_one "$@" ;;
  delete) ROOT=$1; shift; parallel delete_one "$@" >/dev/null ;;
  nat-setup)
    BRIDGE=$1
    ip link add "$BRIDGE" type bridge && ip addr add "$SUBNET.1/24" dev "$BRIDGE" && ip link set "$BRIDGE" up || exit 1
    for t in iptables ip6tables; do
      $t -w -N $CHAIN-FORWARD && $t -w -I FORWARD -j $CHAIN-FORWARD || exit 1
    done
    iptables -w -N $CHAIN-INPUT && iptables -w -I INPUT -j $CHAIN-INPUT || exit 1 ;;
  nat-teardown)
    BRIDGE=$1
    ip link del "$BRIDGE" 2>/dev/null
    for t in iptables ip6tables; do $t -w -D FORWARD -j $CHAIN-FORWARD; $t -w -F $CHAIN-FORWARD; $t -w -X $CHAIN-FORWARD; done 2>/dev/null
    iptables -w -D INPUT -j $CHAIN-INPUT 2>/dev/null; iptables -w -F $CHAIN-INPUT 2>/dev/null; iptables -w -X $CHAIN-INPUT 2>/dev/null
    true ;;
  *) echo "unknown subcommand $cmd" >&2; exit 2 ;;
esac
