// Every spec in the corpus, started for real under crun on this host, its effect observed inside the container.
//
// Each corpus file runs with a probe (effects-probe.sh) in place of its args, unless its own args are the point;
// the probe prints what the container sees (ids, cwd, env, namespaces, capabilities, limits, its own cgroup files
// found through /proc/self/cgroup, mounts, /etc files, what is writable). Where this host lacks a feature the test
// says so (a diagnostic) and checks the conversion's warning instead. Plugin-driven fields (networking, logging,
// storage, ipc, rtscheduling, gpu) are the plugins' and the daemon's: here only what crun itself applies is checked.
// needs: root crun

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import { KNOWN_CAPABILITIES, DEFAULT_CAPABILITIES, readHostFacts } from '../../src/spec/index.ts';
import type { HostFacts } from '../../src/spec/index.ts';
import { corpusFiles, corpusText } from './helpers.ts';
import { crunScratch, crunSkip, ran, type CrunRun, type CrunScratch, type Refused } from './crun-run.ts';

const PROBE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'effects-probe.sh'), 'utf8');

type Facts = ReadonlyMap<string, string>;

function parseFacts(stdout: string): Facts {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

function fact(f: Facts, key: string): string {
  const v = f.get(key);
  assert.ok(v !== undefined, `the probe printed no ${key}`);
  return v;
}

/** The 16-hex-digit capability mask /proc/self/status shows for these names. */
function capMask(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) {
    const bit = KNOWN_CAPABILITIES.indexOf(n);
    assert.ok(bit >= 0, n);
    mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}

function assertCaps(f: Facts, names: readonly string[]): void {
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(fact(f, `status:${set}`), capMask(names), set);
}

/** A cgroup file's value: the v1 name where the host has cgroup v1 controllers, else the v2 name. */
function cg(f: Facts, v1: string, v2?: string): string {
  if (f.has(`cg:${v1}`)) return f.get(`cg:${v1}`)!;
  assert.ok(v2 !== undefined && f.has(`cg:${v2}`), `the container sees neither ${v1}${v2 === undefined ? '' : ` nor ${v2}`}`);
  return f.get(`cg:${v2}`)!;
}

function mountOf(f: Facts, path: string): { type: string; options: string[] } | undefined {
  const v = f.get(`mount:${path}`);
  if (v === undefined) return undefined;
  const [type, options] = v.split(' ');
  return { type: type!, options: (options ?? '').split(',') };
}

function etcFile(f: Facts, name: string): string {
  return Buffer.from(fact(f, `etc:${name}`), 'base64').toString('utf8');
}

interface Host {
  readonly ns: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly facts: HostFacts;
  /** The container's cgroups are v1 (this hybrid host) rather than unified v2. */
  readonly v1: boolean;
}

interface Ctx {
  readonly t: TestContext;
  readonly f: Facts;
  readonly r: CrunRun;
  readonly host: Host;
}

/** Own namespaces (not the host's) for each name, and the host's for the others. */
function assertNamespaces({ f, host }: Ctx, hostOnes: readonly string[]): void {
  for (const ns of ['net', 'ipc', 'pid', 'uts', 'user', 'mnt']) {
    if (hostOnes.includes(ns)) assert.equal(fact(f, `ns:${ns}`), host.ns[ns], `${ns}: expected the host's namespace`);
    else assert.notEqual(fact(f, `ns:${ns}`), host.ns[ns], `${ns}: expected a namespace of its own`);
  }
}

/** What every spec container gets from Dobby's template, unless its spec changes it. */
function assertTemplate(c: Ctx, memLimit = 41943040): void {
  const { f, r } = c;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fact(f, 'status:NoNewPrivs'), '1');
  assert.equal(fact(f, 'status:Seccomp'), '2', 'the default seccomp profile is in force');
  assert.equal(cg(f, 'memory.limit_in_bytes', 'memory.max'), String(memLimit));
  assert.equal(cg(f, 'pids.max'), '256');
  assert.equal(fact(f, 'write:/'), 'no', 'the rootfs is read-only');
  assert.equal(fact(f, 'write:/tmp'), 'yes');
  for (const dir of ['/usr', '/lib', '/bin', '/sbin']) assert.ok(mountOf(f, dir)?.options.includes('ro'), `${dir} is bound read-only`);
  assert.equal(mountOf(f, '/proc')?.type, 'proc');
  assert.equal(fact(f, 'limit:Max open files'), '1024 1024');
  assert.equal(fact(f, 'limit:Max processes'), '300 300');
}

function assertUserNs({ f }: Ctx, uid: number): void {
  assert.equal(fact(f, 'uid'), '0');
  assert.equal(fact(f, 'uid_map'), `0 ${uid} 1`);
}

/** The conversion left a field out for this host: say so, and check the warning names it. */
function leftOut(c: Ctx, field: string, reason: string): void {
  c.t.diagnostic(`this host ${reason}: ${field} is not applied, the conversion warns instead`);
  assert.ok(c.r.warnings.some((w) => w.startsWith(`${field}: left out`)), `no warning for ${field}: ${c.r.warnings.join(' | ')}`);
}

interface Effect {
  /** Run the spec's own args instead of the probe. */
  readonly ownArgs?: true;
  /** A host where the conversion must refuse the spec (a HOST error) instead. */
  readonly refusedOn?: (host: Host) => boolean;
  readonly check: (c: Ctx) => void;
}

const effects: Record<string, Effect> = {
  'sleepy.json': {
    check: (c) => {
      assertTemplate(c);
      assertUserNs(c, 1000);
      assertNamespaces(c, []);
      assertCaps(c.f, DEFAULT_CAPABILITIES);
      assert.equal(fact(c.f, 'pid1'), 'DobbyInit', 'the init runs as pid 1 under Dobby\'s name for it');
      assert.equal(fact(c.f, 'hostname'), c.r.config.hostname);
      assert.equal(fact(c.f, 'cwd'), '/');
      assert.equal(fact(c.f, 'write:/home/private'), 'no');
      assert.equal(fact(c.f, 'limit:Max realtime priority'), '0 0');
      if (c.host.v1) assert.equal(cg(c.f, 'memory.swappiness'), '60', 'Dobby\'s template swappiness');
      for (const name of ['passwd', 'group', 'hosts', 'services', 'ld.so.preload']) assert.equal(etcFile(c.f, name), '', name);
    },
  },
  'echo.json': {
    ownArgs: true,
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assert.equal(c.r.stdout, 'hello world -n\n', 'every argument reaches the program, in order');
      c.t.diagnostic('console.path is the logging plugin\'s (conmon\'s log): see the console tests; under plain crun output is on stdout');
    },
  },
  'envvar.json': {
    check: (c) => {
      assertTemplate(c);
      assert.equal(fact(c.f, 'env:FOO'), 'first');
      assert.equal(fact(c.f, 'env:BAR'), 'second value');
      assert.equal(fact(c.f, 'env:EMPTY'), '');
      assert.equal(fact(c.f, 'env:WITH_EQUALS'), 'a=b');
      assert.equal(fact(c.f, 'env:HOME'), '/home/private');
      assert.equal(fact(c.f, 'env:PATH'), '/usr/sbin:/usr/bin:/sbin:/bin');
      assert.equal(fact(c.f, 'cwd'), '/home/private/work');
    },
  },
  'etc.json': {
    check: (c) => {
      assertTemplate(c);
      assertUserNs(c, 30001);
      assert.equal(etcFile(c.f, 'passwd'), 'root::0:0:root:/root:/bin/false\napp::30001:30000::/home/private:/bin/false\n');
      assert.equal(etcFile(c.f, 'group'), 'root:x:0:\napp:x:30000:\n');
      assert.equal(etcFile(c.f, 'hosts'), '127.0.0.1\tlocalhost\n100.64.11.1\tgateway\n');
      assert.equal(etcFile(c.f, 'services'), 'as\t1234/tcp\tappservices\n');
      assert.equal(etcFile(c.f, 'ld.so.preload'), '/usr/lib/libmemcr.so\n');
      assert.match(c.r.stderr, /libmemcr\.so' from \/etc\/ld\.so\.preload cannot be preloaded/, 'ld.so reads the preload list');
    },
  },
  'mounts.json': {
    check: (c) => {
      assertTemplate(c);
      assert.deepEqual(mountOf(c.f, '/data')?.options.includes('rw'), true);
      assert.ok(mountOf(c.f, '/etc/hostname')?.options.includes('ro'));
      assert.equal(mountOf(c.f, '/scratch')?.type, 'tmpfs');
      assert.ok(mountOf(c.f, '/scratch')?.options.includes('nosuid'));
      assert.ok(mountOf(c.f, '/usr/share/zoneinfo')?.options.includes('ro'));
      assert.equal(mountOf(c.f, '/home/private/store'), undefined);
      c.t.diagnostic('the loop mount at /home/private/store is the storage plugin\'s; crun only sees its mount point');
    },
  },
  'caps.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertCaps(c.f, [...DEFAULT_CAPABILITIES, 'CAP_NET_RAW', 'CAP_NET_BROADCAST', 'CAP_SYS_NICE']);
      assert.equal(fact(c.f, 'status:NoNewPrivs'), '0', 'Dobby lets apps given capabilities gain file capabilities');
    },
  },
  'caps-add-drop.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertCaps(c.f, ['CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']);
    },
  },
  'caps-drop-all.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertCaps(c.f, ['CAP_NET_RAW', 'CAP_SYS_TIME']);
    },
  },
  'caps-all.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      const lastCap = c.host.facts.lastCap ?? KNOWN_CAPABILITIES.length - 1;
      assertCaps(c.f, KNOWN_CAPABILITIES.slice(0, lastCap + 1).filter((n) => n !== 'CAP_SYS_ADMIN' && n !== 'CAP_SYS_MODULE'));
      assert.equal(fact(c.f, 'status:NoNewPrivs'), '0');
    },
  },
  'no-new-privileges.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertCaps(c.f, [...DEFAULT_CAPABILITIES, 'CAP_NET_RAW']);
      assert.equal(fact(c.f, 'status:NoNewPrivs'), '1', 'the extension keeps no-new-privileges on despite the added capability');
      assert.equal(fact(c.f, 'write:/'), 'no');
    },
  },
  'console-null.json': {
    check: (c) => {
      assertTemplate(c);
      c.t.diagnostic('console: null is the logging plugin\'s devnull sink; nothing for crun to apply');
    },
  },
  'cpu.json': {
    check: (c) => {
      assertTemplate(c);
      if (c.host.v1) {
        assert.equal(cg(c.f, 'cpu.shares'), '512');
        if (c.host.facts.realtimeCpu === true) assert.equal(cg(c.f, 'cpu.rt_runtime_us'), '1000');
      } else {
        c.t.diagnostic('cgroup v2: crun turns shares 512 into a cpu.weight whose formula depends on its version; not compared');
      }
      const online = c.host.facts.onlineCpus ?? 8;
      // Cores 0, 1 and 3 were asked for; those not online are dropped.
      const cores = [0, 1, 3].filter((n) => n < online);
      const expected = cores.join(',').replace(/^0,1(?=,|$)/, '0-1');
      assert.equal(cg(c.f, 'cpuset.cpus', 'cpuset.cpus'), expected);
    },
  },
  'ram-swap.json': {
    check: (c) => {
      assertTemplate(c, 209715200);
      if (c.f.has('cg:memory.memsw.limit_in_bytes')) assert.equal(cg(c.f, 'memory.memsw.limit_in_bytes'), '419430400');
      else if (c.f.has('cg:memory.swap.max')) assert.equal(cg(c.f, 'memory.swap.max'), String(419430400 - 209715200));
      else c.t.diagnostic('this host has no swap accounting: the swap limit is not visible');
    },
  },
  'resources.json': {
    check: (c) => {
      const { f, host } = c;
      assert.equal(c.r.status, 0, c.r.stderr);
      assert.equal(cg(f, 'memory.limit_in_bytes', 'memory.max'), '67108864');
      assert.equal(cg(f, 'memory.soft_limit_in_bytes', 'memory.low'), '33554432', 'memoryReservation');
      if (host.v1) {
        assert.equal(cg(f, 'cpu.cfs_quota_us'), '25000');
        assert.equal(cg(f, 'cpu.cfs_period_us'), '50000');
        assert.equal(cg(f, 'memory.swappiness'), '10');
        assert.equal(fact(f, 'cg:oom_kill_disable'), '1', 'oomKillDisable');
      } else {
        assert.equal(cg(f, 'cpu.max'), '25000 50000');
        leftOut(c, 'resources.swappiness', 'uses cgroup v2');
        leftOut(c, 'resources.oomKillDisable', 'uses cgroup v2');
      }
      assert.equal(cg(f, 'pids.max'), '48');
      assert.equal(fact(f, 'oom_score_adj'), '500');
      assert.equal(fact(f, 'limit:Max open files'), '512 2048');
      assert.equal(fact(f, 'limit:Max core file size'), '4096 4096');
      assert.equal(fact(f, 'limit:Max stack size'), '1048576 8388608');
      assert.equal(fact(f, 'limit:Max msgqueue size'), '8192 8192');
      assert.equal(fact(f, 'limit:Max processes'), '300 300', 'template limits the spec does not set stay');
      if (host.facts.blkioWeight === true) assert.equal(cg(f, 'blkio.weight', 'io.bfq.weight'), '300');
      else leftOut(c, 'resources.blkioWeight', 'has no block I/O weight file (blkio.weight) for crun to write');
      if (host.facts.kernelMemory === true) assert.equal(cg(f, 'memory.kmem.limit_in_bytes'), '16777216');
      else leftOut(c, 'resources.kernelMemory', 'runs a kernel that ignores kernel memory limits, or cgroup v2');
    },
  },
  'pids-unlimited.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assert.equal(cg(c.f, 'pids.max'), 'max', 'pidsLimit -1: no limit, not even the daemon\'s default');
      assert.equal(fact(c.f, 'limit:Max processes'), '50 50');
      if (c.host.v1) {
        assert.equal(cg(c.f, 'cpu.cfs_quota_us'), '150000');
        assert.equal(cg(c.f, 'cpu.cfs_period_us'), '100000', 'the kernel\'s default period');
        // swappiness -1 leaves the value the new cgroup inherits from its parent (the hierarchy's root here).
        const root = '/sys/fs/cgroup/memory/memory.swappiness';
        if (existsSync(root)) assert.equal(cg(c.f, 'memory.swappiness'), readFileSync(root, 'utf8').trim());
      } else {
        assert.equal(cg(c.f, 'cpu.max'), '150000 100000');
      }
    },
  },
  'devices.json': {
    refusedOn: (host) => host.facts.driverMajors?.['hidraw'] === undefined,
    check: (c) => {
      assertTemplate(c);
      if (c.host.v1) {
        const rules = cg(c.f, 'devices.list');
        assert.ok(rules.includes(`c ${c.host.facts.driverMajors?.['hidraw']}:0 r`), rules);
        assert.ok(rules.includes('c 13:64 rw'), rules);
      } else {
        c.t.diagnostic('cgroup v2: device rules are an eBPF program, not readable from inside; only the conversion is checked');
      }
    },
  },
  'dbus-syslog.json': {
    check: (c) => {
      assertTemplate(c);
      if (c.host.facts.hasDevLog === true) assert.equal(mountOf(c.f, '/dev/log')?.options.includes('ro'), true);
      else {
        c.t.diagnostic('this host has no /dev/log: syslog is not mounted, the conversion warns instead');
        assert.equal(mountOf(c.f, '/dev/log'), undefined);
        assert.ok(c.r.warnings.some((w) => w.startsWith('syslog: this host has no /dev/log')));
      }
      c.t.diagnostic('dbus is the ipc plugin\'s and restartOnCrash the daemon\'s restart policy; nothing for crun to apply');
    },
  },
  'seccomp.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assert.equal(fact(c.f, 'status:Seccomp'), '2');
      assert.equal(fact(c.f, 'getcwd'), 'realpath: .: Operation not permitted', 'getcwd is refused with EPERM');
      assert.match(c.r.stderr, /getcwd\(\) failed: Operation not permitted/, 'the shell could not find its cwd either');
    },
  },
  'everything.json': {
    ownArgs: true,
    check: (c) => {
      // Its seccomp profile refuses everything but read, write and exit_group: crun's own set-up after the filter
      // (dropping the bounding set, exec) fails, so no program can start. That is the profile at work.
      assert.notEqual(c.r.status, 0);
      assert.match(c.r.stderr, /Operation not permitted/);
      c.t.diagnostic('everything.json cannot start under its own seccomp profile; its other fields are observed in their own files');
    },
  },
  'extra-keys.json': { check: (c) => assertTemplate(c) },
  'gpu.json': {
    check: (c) => {
      assertTemplate(c);
      assert.ok(!/mali|vpu/.test(fact(c.f, 'devnodes')));
      assert.ok(c.r.warnings.some((w) => w.startsWith('gpu.enable: this host has no GPU device nodes')));
      c.t.diagnostic('this host has no GPU or VPU: the spec is accepted and runs without them, with a warning');
    },
  },
  'gpu-disabled.json': { check: (c) => assertTemplate(c) },
  'network-nat.json': {
    check: (c) => {
      assertTemplate(c);
      assertNamespaces(c, []);
      c.t.diagnostic('nat addressing and forwarding are the networking plugin\'s; crun gives the own network namespace');
    },
  },
  'network-private.json': { check: (c) => { assertTemplate(c); assertNamespaces(c, []); } },
  'network-open.json': {
    check: (c) => {
      assertTemplate(c);
      assertNamespaces(c, ['net']);
      assert.equal(mountOf(c.f, '/sys'), undefined, 'no sysfs in the host\'s network namespace under a user namespace');
    },
  },
  'network-null.json': { check: (c) => { assertTemplate(c); assertNamespaces(c, ['net']); } },
  'host-namespaces.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertNamespaces(c, ['net', 'ipc', 'pid', 'uts', 'user']);
      assert.equal(fact(c.f, 'hostname'), c.host.hostname);
      assert.notEqual(fact(c.f, 'pid1'), 'DobbyInit', 'pid 1 is the host\'s init');
      assert.doesNotMatch(c.r.stderr, /Tini is not running as PID 1/, 'tini registered as a subreaper');
      assert.equal(fact(c.f, 'uid'), '1000');
    },
  },
  'host-ipc-uts.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assertNamespaces(c, ['net', 'ipc', 'uts']);
      assert.equal(fact(c.f, 'hostname'), c.host.hostname);
      assertUserNs(c, 1000);
    },
  },
  'writable-rootfs.json': {
    check: (c) => {
      assert.equal(c.r.status, 0, c.r.stderr);
      assert.equal(fact(c.f, 'write:/'), 'yes');
      assert.equal(fact(c.f, 'write:/home/private'), 'yes');
      assert.ok(mountOf(c.f, '/')?.options.includes('rw'));
    },
  },
  'plugins.json': {
    check: (c) => {
      assertTemplate(c);
      c.t.diagnostic('legacy plugins run as hooks in the daemon; nothing for crun to apply');
    },
  },
  'rdkplugins.json': {
    check: (c) => {
      assertTemplate(c);
      assertNamespaces(c, []);
      c.t.diagnostic('rdkPlugins run as hooks in the daemon; crun gives the own network namespace "nat" asks for');
    },
  },
  'rtpriority-1.0.json': {
    check: (c) => {
      assertTemplate(c);
      // No RLIMIT_RTPRIO from the config: the rtscheduling plugin sets it; until then the inherited one stays.
      const host = c.host.facts.hardLimits?.['RLIMIT_RTPRIO'];
      if (host !== undefined) assert.equal(fact(c.f, 'limit:Max realtime priority').split(' ')[1], String(host));
    },
  },
  'rtpriority-1.1.json': { check: (c) => assertTemplate(c) },
  'userns-off.json': {
    check: (c) => {
      assertTemplate(c);
      assertNamespaces(c, ['user']);
      assert.equal(fact(c.f, 'uid'), '1000');
      assert.equal(fact(c.f, 'gid'), '1001');
      assert.equal(fact(c.f, 'uid_map'), '0 0 4294967295');
      assertCaps(c.f, DEFAULT_CAPABILITIES);
    },
  },
};

/** The probe, plus what seccomp.json refuses. */
function probeFor(name: string): string {
  // realpath needs getcwd for a relative path (coreutils pwd would fall back to walking up through ..).
  return name === 'seccomp.json' ? `${PROBE}\nprintf 'getcwd=%s\\n' "$(realpath . 2>&1)"\n` : PROBE;
}

describe('corpus specs under crun: effects inside the container', { skip: crunSkip }, () => {
  let scratch: CrunScratch | undefined;
  let host: Host | undefined;
  before(async () => {
    scratch = await crunScratch('spec-effects');
    const ns = Object.fromEntries(['net', 'ipc', 'pid', 'uts', 'user', 'mnt'].map((n) => [n, readlinkSync(`/proc/self/ns/${n}`)]));
    const facts = readHostFacts();
    host = { ns, hostname: hostname(), facts, v1: facts.cgroupVersion === 1 };
  });
  after(async () => scratch?.close());

  test('every corpus file has its effects checked', () => {
    assert.deepEqual(corpusFiles(), Object.keys(effects).sort());
  });

  for (const name of corpusFiles()) {
    test(name, async (t) => {
      const effect = effects[name];
      assert.ok(effect !== undefined, `no effects listed for ${name}`);
      const result: CrunRun | Refused = await scratch!.run(corpusText(name), effect.ownArgs ? {} : { args: ['sh', '-c', probeFor(name)] });
      if ('refused' in result) {
        // Only the refusal this host calls for (e.g. a device driver it lacks), and it must say so.
        assert.ok(effect.refusedOn?.(host!) === true, `refused: ${result.refused.map((e) => e.message).join('\n')}`);
        assert.ok(result.refused.every((e) => e.code === 'HOST'), result.refused.map((e) => e.message).join('\n'));
        t.diagnostic(`refused on this host: ${result.refused.map((e) => e.message).join('; ')}`);
        return;
      }
      const r = ran(result);
      effect.check({ t, f: parseFacts(r.stdout), r, host: host! });
    });
  }
});
