// Recorded cgroup files (mountinfo, /proc/cgroups, /proc/<pid>/cgroup) of v1, v2 and hybrid hosts, for the cgroup tests.
// Both sample sets live here: the cgroup parsers (test/drivers/cgroup.test.ts) are tested on each, the host check on the first.

// --- Samples first written for the host check (test/host/cgroup.test.ts). ---

/** CentOS 7 style pure cgroup v1 (systemd, no cgroup2 mount). */
export const V1 = `\
18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
30 24 0:26 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,freezer
31 24 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
32 24 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
61 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/centos-root rw,attr2,inode64,noquota
`;

/** Debian 12 default: pure cgroup v2 at /sys/fs/cgroup. */
export const V2 = `\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
export const V2_CONTROLLERS = 'cpuset cpu io memory hugetlb pids rdma misc\n';

/** This project's build machine before the fix: v1 controllers plus cgroup2 at unified holding hugetlb. */
export const HYBRID_HUGETLB = `\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
/** The same machine after `mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb`. */
export const HYBRID_FIXED = `${HYBRID_HUGETLB}42 31 0:39 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb\n`;

export const PROC_CGROUPS = `\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
memory\t4\t19\t1
freezer\t6\t1\t1
hugetlb\t0\t1\t1
`;

// --- Samples first written for the cgroup driver (test/drivers/cgroup.test.ts). ---

/** This dev VM: v1 controllers (cpu and cpuacct apart), an empty cgroup2 at unified, hugetlb remounted on v1. */
export const HYBRID_MOUNTINFO = `24 1 254:1 / / rw,relatime - ext4 /dev/vda rw\n${HYBRID_FIXED}`;

/** /proc/<pid>/cgroup of a crun container (id m1) on that VM. */
export const HYBRID_PROC_CGROUP = `\
10:hugetlb:/m1
9:name=systemd:/m1
8:pids:/m1
7:blkio:/m1
6:freezer:/m1
5:devices:/m1
4:memory:/m1
3:cpuset:/m1
2:cpuacct:/m1
1:cpu:/m1
0::/m1
`;

/** Debian 12 default: pure cgroup v2. */
export const V2_MOUNTINFO = `\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
export const V2_PROC_CGROUP = '0::/system.slice/dobbyd.service/ctr-1\n';

/** CentOS 7: pure v1 with co-mounted controllers and systemd's named hierarchy. */
export const V1_MOUNTINFO = `\
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 24 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
`;
export const V1_PROC_CGROUP = `\
11:net_cls,net_prio:/
4:cpu,cpuacct:/system.slice/ctr:1
3:memory:/system.slice/ctr:1
1:name=systemd:/system.slice/ctr:1
`;

/** Inside a container whose v1 memory hierarchy is bind-mounted from /docker/abc. */
export const NESTED_MOUNTINFO = '1234 1200 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n';
