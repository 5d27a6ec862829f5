#!/bin/bash
# The bench's yardsticks: what a shell user pays for the same work with crun (and conmon) directly.
# Each timed subcommand starts its jobs in parallel (one per container), waits for all, and prints
# the wall time in microseconds, from bash's $EPOCHREALTIME (no Node anywhere near the clock).
#
#   raw-start ROOT ID=BUNDLE...          crun run --detach, then crun state says "running"
#   conmon-start ROOT MONDIR ID=DIR...   conmon in DIR (a dir of its own holding config.json) runs
#                                        crun create; the pid is read from its sync pipe; crun start
#   nat-start ROOT BRIDGE ID=BUNDLE=N... crun run --detach (console to a file) while dobbyd's
#                                        per-container rules go in (one iptables-restore, one
#                                        ebtables-restore), then its veth on the bridge, address and
#                                        route inside; crun state says "running"
#   nat-stop ROOT BRIDGE ID=N...         crun kill TERM, wait for the init to die, then crun delete,
#                                        the veth and the rules removed, side by side
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
  local id bundle n pid rules
  IFS='=' read -r id bundle n <<<"$1"
  # The rules name the port, not the process: they go in while crun makes the container, as dobbyd's
  # do, and side by side, as dobbyd's (the ebtables chains have the RETURN policy: see nat-setup).
  rules4 "-I" "$id" "$n" | iptables-restore --noflush -w & rules=$!
  links "-A" "$n" | ebtables-restore --noflush & local links=$!
  crun --root "$ROOT" run --detach --bundle "$bundle" --pid-file "$bundle/pid" "$id" </dev/null >"$bundle/console.log" 2>&1 \
    || { echo "crun run $id failed: $(cat "$bundle/console.log")" >&2; return 1; }
  read -r pid <"$bundle/pid"
  # The peer is made in the container's namespace, as dobbyd makes it (a move would cost an RCU grace period).
  ip -batch - <<EOF || return 1
link add ysv$n type veth peer name ysp$n address $(mac "$n") netns $pid
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
  wait "$rules" || return 1
  wait "$links" || return 1
  running "$ROOT" "$id"
}

mac() { printf '02:db:64:42:00:%02x' $(($1 + 10)); }

# dobbyd's rules for an IPv4 nat container with dnsmasq (Dobby's spec conversion turns it on), as
# its debug log shows them: DNS to the bridge DNATed to the host's resolver and let in from that
# port only, and anti-spoofing on the port; at the link layer, the port's MAC and addresses.
rules4() {
  local ip=$SUBNET.$(($3 + 10)) tag="-m comment --comment ys:$2" op=$1 at=''
  [ "$op" = -I ] && at=' 1'
  printf '*filter\n'
  for p in tcp udp; do
    printf '%s %s-INPUT%s -s %s/32 -d 127.0.0.1/32 -i %s -p %s -m %s --dport 53 -m physdev --physdev-in ysv%s %s -j ACCEPT\n' "$op" "$CHAIN" "$at" "$ip" "$BRIDGE" $p $p "$3" "$tag"
  done
  printf '%s %s-ANTISPOOF%s ! -s %s/32 -m physdev --physdev-in ysv%s %s -j DROP\nCOMMIT\n*nat\n' "$op" "$CHAIN" "$at" "$ip" "$3" "$tag"
  for p in tcp udp; do
    printf '%s %s-PREROUTING%s -s %s/32 -d %s.1/32 -i %s -p %s -m %s --dport 53 %s -j DNAT --to-destination 127.0.0.1:53\n' "$op" "$CHAIN" "$at" "$ip" "$SUBNET" "$BRIDGE" $p $p "$tag"
  done
  printf 'COMMIT\n'
}
links() {
  local op=$1 v=ysv$2 ip=$SUBNET.$(($2 + 10)) mac; mac=$(mac "$2")
  printf '*nat\n'
  printf -- "$op $CHAIN-FROM -i $v %s\n" "-s ! $mac -j DROP" "-p ARP --arp-mac-src ! $mac -j DROP" "-p ARP --arp-ip-src $ip -j RETURN" "-p IPv4 --ip-src $ip -j RETURN" "-j DROP"
  printf -- "$op $CHAIN-TO -o $v %s\n" "-p ARP -j RETURN" "-p IPv4 --ip-dst $ip -j RETURN" "-p IPv4 --ip-dst $SUBNET.255 -j RETURN" "-p IPv4 --ip-dst 255.255.255.255 -j RETURN" "-p IPv4 --ip-dst 224.0.0.0/4 -j RETURN" "-j DROP"
  printf 'COMMIT\n'
}

nat_stop_one() {
  local id=${1%%=*} n=${1#*=} pid out st
  out=$(crun --root "$ROOT" state "$id") || return 1
  [[ $out =~ \"pid\":\ *([0-9]+) ]] && pid=${BASH_REMATCH[1]}
  crun --root "$ROOT" kill "$id" TERM || return 1
  while read -r st 2>/dev/null <"/proc/$pid/stat"; do   # until gone or a zombie (PID 1 reaps lazily)
    st=${st##*) }; [ "${st:0:1}" = Z ] && break
  done
  crun --root "$ROOT" delete "$id" & local del=$!
  ip link del "ysv$n" 2>/dev/null   # gone with the container's namespace already, as a rule
  rules4 "-D" "$id" "$n" | iptables-restore --noflush -w & local rules=$!
  links "-D" "$n" | ebtables-restore --noflush || return 1
  wait "$rules" && wait "$del"
}

delete_one() { crun --root "$ROOT" delete --force "$1" >/dev/null 2>&1 || true; }

cmd=$1; shift
case $cmd in
  raw-start) ROOT=$1; shift; parallel raw_one "$@" ;;
  conmon-start) ROOT=$1; MONDIR=$2; shift 2; mkdir -p "$MONDIR/exits" "$MONDIR/sockets"; parallel conmon_one "$@" ;;
  nat-start) ROOT=$1; BRIDGE=$2; shift 2; parallel nat_one "$@" ;;
  nat-stop) ROOT=$1; BRIDGE=$2; shift 2; parallel nat_stop_one "$@" ;;
  delete) ROOT=$1; shift; parallel delete_one "$@" >/dev/null ;;
  nat-setup)
    BRIDGE=$1
    ip link add "$BRIDGE" type bridge && ip addr add "$SUBNET.1/24" dev "$BRIDGE" && ip link set "$BRIDGE" up || exit 1
    iptables -w -N $CHAIN-INPUT && iptables -w -I INPUT -j $CHAIN-INPUT || exit 1
    iptables -w -N $CHAIN-ANTISPOOF && iptables -w -I FORWARD -i "$BRIDGE" -j $CHAIN-ANTISPOOF && iptables -w -I INPUT -i "$BRIDGE" -j $CHAIN-ANTISPOOF || exit 1
    iptables -w -t nat -N $CHAIN-PREROUTING && iptables -w -t nat -I PREROUTING -j $CHAIN-PREROUTING || exit 1
    # RETURN, as dobbyd's: ebtables-nft keeps an ACCEPT policy as a rule it deletes and adds again on
    # every change, and an iptables-restore committing meanwhile fails the change (RULE_DELETE).
    ebtables -t nat -N $CHAIN-FROM -P RETURN && ebtables -t nat -A PREROUTING -j $CHAIN-FROM || exit 1
    ebtables -t nat -N $CHAIN-TO -P RETURN && ebtables -t nat -A POSTROUTING -j $CHAIN-TO || exit 1 ;;
  nat-teardown)
    BRIDGE=$1
    ip link del "$BRIDGE" 2>/dev/null
    {
      iptables -w -D INPUT -j $CHAIN-INPUT; iptables -w -F $CHAIN-INPUT; iptables -w -X $CHAIN-INPUT
      iptables -w -D FORWARD -i "$BRIDGE" -j $CHAIN-ANTISPOOF; iptables -w -D INPUT -i "$BRIDGE" -j $CHAIN-ANTISPOOF
      iptables -w -F $CHAIN-ANTISPOOF; iptables -w -X $CHAIN-ANTISPOOF
      iptables -w -t nat -D PREROUTING -j $CHAIN-PREROUTING; iptables -w -t nat -F $CHAIN-PREROUTING; iptables -w -t nat -X $CHAIN-PREROUTING
      for c in FROM:PREROUTING TO:POSTROUTING; do
        ebtables -t nat -D "${c#*:}" -j "$CHAIN-${c%%:*}"; ebtables -t nat -F "$CHAIN-${c%%:*}"; ebtables -t nat -X "$CHAIN-${c%%:*}"
      done
    } 2>/dev/null
    true ;;
  *) echo "unknown subcommand $cmd" >&2; exit 2 ;;
esac
