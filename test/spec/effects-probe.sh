# Run inside a spec container (sh -c): prints what the container sees of its settings, one key=value per line.
# Read by test/spec/crun-effects.test.ts; works on cgroup v1, hybrid and v2 hosts (each prints what it has).

say() { printf '%s=%s\n' "$1" "$2"; }

say uid "$(id -u)"
say gid "$(id -g)"
say cwd "$(pwd)"
say hostname "$(cat /proc/sys/kernel/hostname)"
say pid1 "$(cat /proc/1/comm)"
for ns in net ipc pid uts user mnt; do say "ns:$ns" "$(readlink /proc/self/ns/$ns)"; done
say uid_map "$(head -n 1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | while read -r k v; do say "status:${k%:}" "$v"; done
say oom_score_adj "$(cat /proc/self/oom_score_adj)"
tail -n +2 /proc/self/limits | sed -E 's/^(Max( [a-z]+)+) {2,}([^ ]+) +([^ ]+).*/limit:\1=\3 \4/'
env | sed 's/^/env:/'

# The container's own cgroup dir for a controller, found through /proc/self/cgroup (v1 line, else the v2 line).
cg() {
  line=$(grep -E "^[0-9]+:([^:]*,)?$1(,[^:]*)?:" /proc/self/cgroup | head -n 1)
  [ -n "$line" ] || line=$(grep '^0::' /proc/self/cgroup)
  path=${line#*:*:}
  for d in "/sys/fs/cgroup/$1$path" "/sys/fs/cgroup/$1" "/sys/fs/cgroup$path" /sys/fs/cgroup; do
    if [ -d "$d" ]; then echo "$d"; return; fi
  done
}
show() { d=$(cg "$1"); shift; for f in "$@"; do [ -r "$d/$f" ] && say "cg:$f" "$(tr '\n' ' ' < "$d/$f" | sed 's/ *$//')"; done; }
show memory memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes memory.swappiness \
  memory.kmem.limit_in_bytes memory.max memory.swap.max memory.low
say cg:oom_kill_disable "$(grep -s '^oom_kill_disable' "$(cg memory)/memory.oom_control" | cut -d' ' -f2)"
show cpu cpu.shares cpu.cfs_quota_us cpu.cfs_period_us cpu.rt_runtime_us cpu.max cpu.weight
show cpuset cpuset.cpus cpuset.cpus.effective
show pids pids.max
show blkio blkio.weight blkio.bfq.weight io.weight io.bfq.weight
show devices devices.list

for p in / /tmp /home/private; do
  if touch "$p/.probe-write" 2>/dev/null; then say "write:$p" yes; else say "write:$p" no; fi
done
# mountinfo: id parent dev root mountpoint options [optional fields] - fstype source superoptions (no awk: the
# host's awk is a symlink through /etc/alternatives, which the generated /etc lacks).
while read -r _ _ _ _ mp opts rest; do fs=${rest#*- }; say "mount:$mp" "${fs%% *} $opts"; done < /proc/self/mountinfo
for f in passwd group hosts services ld.so.preload; do say "etc:$f" "$(base64 -w 0 "/etc/$f" 2>/dev/null)"; done
say devnodes "$(ls /dev | tr '\n' ' ')"
