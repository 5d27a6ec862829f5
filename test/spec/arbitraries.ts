// fast-check arbitraries: valid Dobby specs (as plain objects), host options, and mutations that break a spec.

import fc from 'fast-check';
import { KNOWN_CAPABILITIES } from '../../src/spec/index.ts';
import type { SpecToOciOptions } from '../../src/spec/index.ts';
import { CPU_PERIOD_RANGE, CPU_QUOTA_RANGE, MAX_PIDS, MIN_KERNEL_MEMORY } from '../../src/spec/parse-extensions.ts';
import { RLIMIT_NAMES } from '../../src/spec/rlimits.ts';
import { HOST } from './helpers.ts';

type Spec = Record<string, unknown>;

const word = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/);
const text = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));
const absPath = fc.array(word, { minLength: 1, maxLength: 3 }).map((parts) => `/${parts.join('/')}`);
/** Not under /etc (its files are fixed) nor under the host directories, so mount points never collide. */
const mountDest = fc.array(word, { minLength: 1, maxLength: 3 })
  .filter((parts) => !['etc', 'usr', 'lib', 'lib64', 'bin', 'sbin', 'proc', 'dev', 'sys', 'tmp'].includes(parts[0]!))
  .map((parts) => `/${parts.join('/')}`);
const program = text.filter((s) => s !== '' && !s.startsWith('-'));
const envEntry = fc.tuple(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), text).map(([k, v]) => `${k}=${v}`);
const pluginName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/);

const capName = fc.oneof(
  fc.constantFrom(...KNOWN_CAPABILITIES).chain((name) => fc.constantFrom(name, name.slice(4), name.toLowerCase(), name.slice(4).toLowerCase())),
  fc.constantFrom('ALL', 'all'),
);

const cpuList = fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 8 }).map((cpus) => cpus.join(','));

const mount = fc.oneof(
  fc.record({ source: absPath, destination: mountDest, type: fc.constantFrom('bind', 'rbind'), options: fc.array(fc.constantFrom('bind', 'ro', 'rw', 'nosuid', 'nodev')) }),
  fc.record({ source: fc.constant('tmpfs'), destination: mountDest, type: fc.constant('tmpfs'), options: fc.constantFrom([], ['size=64k'], null) }),
  fc.record({
    source: absPath, destination: mountDest, type: fc.constant('loop'), fstype: fc.constantFrom('ext4', 'squashfs'),
    options: fc.array(fc.constantFrom('ro', 'sync', 'nosuid', 'noexec', 'errors=remount-ro')),
  }),
);

const jsonData = fc.dictionary(word, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });

const device = fc.oneof(
  fc.record({ major: fc.constant('hidraw'), minor: fc.integer({ min: 0, max: 99 }), access: fc.constantFrom('r', 'w', 'rw', 'wr', 'RW') }),
  fc.record({ major: fc.constantFrom(13, 'input'), minor: fc.integer({ min: 64, max: 95 }), access: fc.constantFrom('r', 'rw') }),
);

/** A limit in any of its forms, soft <= hard; sometimes large (above a host's hard limit). */
const rlimitValue = fc.tuple(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 1 << 20 }))
  .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const)
  .chain(([soft, hard]) => fc.constantFrom<unknown>(soft, `${soft}`, `${soft}:${hard}`, ` ${soft} : ${hard} `, { soft, hard }, { soft }));

/** Docker's names in any spelling; rtprio left out (it conflicts with rtPriority, which is generated apart). */
const rlimitKey = fc.constantFrom(...Object.keys(RLIMIT_NAMES).filter((n) => n !== 'rtprio'))
  .chain((n) => fc.constantFrom(n, n.toUpperCase(), `RLIMIT_${n.toUpperCase()}`, `rlimit_${n}`));

const rlimits = fc.uniqueArray(fc.tuple(rlimitKey, rlimitValue), {
  maxLength: 4, selector: ([k]) => k.toLowerCase().replace(/^rlimit_/, ''),
}).map((entries) => Object.fromEntries(entries));

const resources = (memLimit: number) => fc.record({
  cpuQuota: fc.oneof(fc.integer(CPU_QUOTA_RANGE), fc.constant(null)),
  cpuPeriod: fc.integer(CPU_PERIOD_RANGE),
  pidsLimit: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: MAX_PIDS })),
  blkioWeight: fc.integer({ min: 10, max: 1000 }),
  memoryReservation: fc.integer({ min: 1, max: memLimit }),
  kernelMemory: memLimit >= MIN_KERNEL_MEMORY ? fc.integer({ min: MIN_KERNEL_MEMORY, max: memLimit }) : fc.constant(null),
  swappiness: fc.integer({ min: -1, max: 100 }),
  oomKillDisable: fc.boolean(),
  oomScoreAdj: fc.integer({ min: -1000, max: 1000 }),
  rlimits,
}, { requiredKeys: [] });

/** Optional fields: each present or not; present ones take any valid value. */
const optional = (version: '1.0' | '1.1', memLimit: number) => fc.record({
  swapLimit: memLimit <= 2 ** 32 - 1 ? fc.integer({ min: memLimit, max: 2 ** 32 - 1 }) : fc.constant(undefined),
  userNs: fc.constantFrom(true, false, null),
  env: fc.array(envEntry, { maxLength: 5 }),
  cwd: absPath,
  console: fc.oneof(fc.constant(null), fc.record({ path: absPath, limit: fc.integer({ min: -1, max: 1 << 30 }) }, { requiredKeys: ['path'] }), fc.constant({})),
  network: fc.constantFrom('nat', 'open', 'private', null),
  mounts: fc.uniqueArray(mount, { maxLength: 4, selector: (m) => m.destination }),
  cpu: fc.record({ shares: fc.integer({ min: 1, max: 100 }), cores: cpuList }, { requiredKeys: [] }),
  rtPriority: version === '1.0'
    ? fc.integer({ min: 0, max: 99 })
    : fc.integer({ min: 0, max: 99 }).chain((d) => fc.record({ default: fc.constant(d), limit: fc.integer({ min: d, max: 99 }) }, { requiredKeys: [] })),
  gpu: fc.record({ enable: fc.constantFrom(true, false, null), memLimit: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }, { requiredKeys: [] }),
  vpu: fc.record({ enable: fc.constantFrom(true, false, null) }, { requiredKeys: [] }),
  dbus: fc.record({
    system: fc.constantFrom('system', 'ai-public', 'ai-private', null), session: fc.constantFrom('system', 'ai-public', 'ai-private'),
    debug: fc.constantFrom('ai-private', null),
  }, { requiredKeys: [] }),
  syslog: fc.constantFrom(true, false, null),
  devices: fc.array(device, { maxLength: 3 }),
  capabilities: fc.oneof(
    fc.array(capName, { maxLength: 5 }),
    fc.record({ add: fc.array(capName, { maxLength: 4 }), drop: fc.array(capName, { maxLength: 4 }) }, { requiredKeys: [] }),
  ),
  seccomp: fc.record({
    defaultAction: fc.constantFrom('SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO'),
    syscalls: fc.record({ names: fc.array(word, { minLength: 1, maxLength: 4 }), action: fc.constantFrom('SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO') }),
  }),
  etc: fc.record({
    hosts: fc.array(text, { maxLength: 3 }), services: fc.array(text, { maxLength: 3 }), passwd: fc.array(text, { maxLength: 3 }),
    group: fc.array(text, { maxLength: 3 }), 'ld-preload': fc.array(absPath, { maxLength: 2 }),
  }, { requiredKeys: [] }),
  restartOnCrash: fc.constantFrom(true, false, null),
  plugins: fc.uniqueArray(fc.record({ name: pluginName, data: fc.jsonValue({ maxDepth: 2 }) }), { maxLength: 3, selector: (p) => p.name }),
  rdkPlugins: fc.dictionary(pluginName, fc.record({
    required: fc.constantFrom(true, false, null), dependsOn: fc.array(pluginName, { maxLength: 2 }), data: fc.oneof(jsonData, fc.constant(null)),
  }, { requiredKeys: [] }), { maxKeys: 3 }),
  unknownKey: text,
  resources: resources(memLimit),
  readonlyRootfs: fc.constantFrom(true, false, null),
  // Filtered against userNs and network below (the host's pid namespace needs userNs false, its network no nat).
  hostNamespaces: fc.subarray(['network', 'ipc', 'pid', 'uts']),
  noNewPrivileges: fc.constantFrom(true, false, null),
}, { requiredKeys: [] });

/** Drops the host namespaces the rest of the spec rules out. */
function consistentHostNamespaces(spec: Spec): void {
  const wanted = spec['hostNamespaces'];
  if (!Array.isArray(wanted)) return;
  spec['hostNamespaces'] = wanted.filter((ns) => (ns !== 'pid' || spec['userNs'] === false) &&
    (ns !== 'network' || (spec['network'] !== 'nat' && spec['network'] !== 'private')));
}

export const validSpec: fc.Arbitrary<Spec> = fc.record({
  version: fc.constantFrom('1.0' as const, '1.1' as const),
  memLimit: fc.integer({ min: 1, max: 2 ** 40 }),
}).chain(({ version, memLimit }) => fc.record({
  version: fc.constant(version),
  args: fc.tuple(program, fc.array(text, { maxLength: 4 })).map(([p, rest]) => [p, ...rest]),
  user: fc.record({ uid: fc.integer({ min: 1, max: 65534 }), gid: fc.integer({ min: 0, max: 65534 }) }),
  memLimit: fc.constant(memLimit),
  rest: optional(version, memLimit),
})).map(({ rest, ...required }) => {
  const spec: Spec = { ...required };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) spec[k] = v;
  consistentHostNamespaces(spec);
  return spec;
});

export const hostOptions: fc.Arbitrary<SpecToOciOptions> = fc.record({
  cgroupVersion: fc.constantFrom(1 as const, 2 as const),
  hasLib64: fc.boolean(),
  onlineCpus: fc.integer({ min: 1, max: 16 }),
  pidsLimit: fc.constantFrom(256, 64, null),
  realtimeCpu: fc.boolean(),
  capSysResource: fc.boolean(),
  oomScoreAdj: fc.integer({ min: -1000, max: 1000 }),
  blkioWeight: fc.boolean(),
  kernelMemory: fc.boolean(),
  hasDevLog: fc.boolean(),
  nofile: fc.integer({ min: 64, max: 1 << 20 }),
  stack: fc.integer({ min: 0, max: 1 << 20 }),
}).map(({ nofile, stack, ...facts }) => ({
  ...HOST, ...facts, hardLimits: { RLIMIT_NOFILE: nofile, RLIMIT_STACK: stack, RLIMIT_RTPRIO: 0 },
}));

/** The normalised limit name and the hard value of one generated rlimits entry. */
export function rlimitEntry(key: string, value: unknown): { type: string; soft: number; hard: number } {
  const type = RLIMIT_NAMES[key.toLowerCase().replace(/^rlimit_/, '')]!;
  if (typeof value === 'number') return { type, soft: value, hard: value };
  if (typeof value === 'string') {
    const [soft, hard] = value.split(':').map((p) => Number(p.trim()));
    return { type, soft: soft!, hard: hard ?? soft! };
  }
  const { soft, hard } = value as { soft: number; hard?: number };
  return { type, soft, hard: hard ?? soft };
}

/** Paths of the errors specToOci must give on this host: what only CAP_SYS_RESOURCE could grant. */
export function expectedHostErrors(spec: Spec, options: SpecToOciOptions): string[] {
  if (options.capSysResource !== false) return [];
  const r = (spec['resources'] ?? {}) as { rlimits?: Record<string, unknown>; oomScoreAdj?: number };
  const out = Object.entries(r.rlimits ?? {})
    .filter(([k, v]) => {
      const { type, hard } = rlimitEntry(k, v);
      const host = options.hardLimits?.[type];
      return host !== undefined && hard > host;
    })
    .map(([k]) => `resources.rlimits.${k}`);
  if (r.oomScoreAdj !== undefined && r.oomScoreAdj < (options.oomScoreAdj ?? 0)) out.push('resources.oomScoreAdj');
  return out.sort();
}

/** A change that makes any valid spec invalid, and the path the error must name. */
export interface Mutation {
  readonly describe: string;
  readonly path: string;
  readonly apply: (spec: Spec) => Spec;
}

const FIELDS = [
  'version', 'args', 'user', 'userNs', 'memLimit', 'swapLimit', 'env', 'cwd', 'console', 'network', 'mounts', 'cpu',
  'rtPriority', 'gpu', 'vpu', 'dbus', 'syslog', 'devices', 'capabilities', 'seccomp', 'etc', 'restartOnCrash',
  'plugins', 'rdkPlugins', 'resources', 'readonlyRootfs', 'hostNamespaces', 'noNewPrivileges',
];

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // "x" is wrong for every field: not a version, not absolute, not a number, array, object or boolean.
  fc.constantFrom(...FIELDS).map((field): Mutation => ({ describe: `${field} = "x"`, path: field, apply: (s) => ({ ...s, [field]: 'x' }) })),
  fc.constantFrom('version', 'args', 'user', 'memLimit').map((field): Mutation => ({
    describe: `no ${field}`, path: field, apply: (s) => Object.fromEntries(Object.entries(s).filter(([k]) => k !== field)),
  })),
  fc.constant<Mutation>({ describe: 'uid 0', path: 'user.uid', apply: (s) => ({ ...s, user: { uid: 0, gid: 0 } }) }),
  fc.constant<Mutation>({
    describe: 'swap below memory', path: 'swapLimit', apply: (s) => ({ ...s, memLimit: 4096, swapLimit: 4095 }),
  }),
  fc.stringMatching(/^[A-Z]{3,8}$/).filter((n) => !KNOWN_CAPABILITIES.includes(`CAP_${n}`) && n !== 'ALL').map((n): Mutation => ({
    describe: `capability CAP_${n}`, path: 'capabilities[0]', apply: (s) => ({ ...s, capabilities: [`CAP_${n}`] }),
  })),
  fc.tuple(mountDest, word).map(([dest, w]): Mutation => ({
    describe: 'mount with ..', path: 'mounts[0].destination',
    apply: (s) => ({ ...s, mounts: [{ source: '/a', destination: `${dest}/../${w}`, type: 'bind', options: [] }] }),
  })),
  fc.constant<Mutation>({ describe: 'empty args', path: 'args', apply: (s) => ({ ...s, args: [] }) }),
  fc.constant<Mutation>({ describe: 'env without =', path: 'env[0]', apply: (s) => ({ ...s, env: ['NOEQUALS'] }) }),
  fc.integer({ min: -5, max: 0 }).map((n): Mutation => ({ describe: `cpu shares ${n}`, path: 'cpu.shares', apply: (s) => ({ ...s, cpu: { shares: n } }) })),
  fc.integer({ min: 100, max: 1000 }).map((n): Mutation => ({ describe: `rtPriority ${n}`, path: 'rtPriority', apply: (s) => ({ ...s, version: '1.0', rtPriority: n }) })),
  // The extensions: each bad value names its field inside `resources` (the rest of resources kept).
  fc.oneof(
    fc.tuple(fc.constant('cpuQuota'), fc.oneof(fc.integer({ min: -1e6, max: 999 }), fc.constant(2 ** 44))),
    fc.tuple(fc.constant('cpuPeriod'), fc.oneof(fc.integer({ min: -1e6, max: 999 }), fc.integer({ min: 1_000_001, max: 1e9 }))),
    fc.tuple(fc.constant('pidsLimit'), fc.oneof(fc.integer({ min: -1e6, max: -2 }), fc.constant(0), fc.constant(MAX_PIDS + 1))),
    fc.tuple(fc.constant('blkioWeight'), fc.oneof(fc.integer({ min: -5, max: 9 }), fc.integer({ min: 1001, max: 1e6 }))),
    fc.tuple(fc.constant('swappiness'), fc.oneof(fc.integer({ min: -1e3, max: -2 }), fc.integer({ min: 101, max: 1e3 }))),
    fc.tuple(fc.constant('oomScoreAdj'), fc.oneof(fc.integer({ min: -1e5, max: -1001 }), fc.integer({ min: 1001, max: 1e5 }), fc.constant(0.5))),
    fc.tuple(fc.constant('oomKillDisable'), fc.constantFrom<unknown>('true', 1, [])),
    fc.tuple(fc.constant('kernelMemory'), fc.integer({ min: 0, max: MIN_KERNEL_MEMORY - 1 })),
  ).map(([field, value]): Mutation => ({
    describe: `resources.${field} = ${JSON.stringify(value)}`, path: `resources.${field}`,
    apply: (s) => ({ ...s, resources: { ...(s['resources'] as object | undefined), [field]: value } }),
  })),
  fc.constant<Mutation>({
    describe: 'reservation above memLimit', path: 'resources.memoryReservation',
    apply: (s) => ({ ...s, resources: { memoryReservation: (s['memLimit'] as number) + 1 } }),
  }),
  fc.tuple(fc.constantFrom('as', 'AS', 'rlimit_as', 'files', 'openfiles', 'rtprio2'), rlimitValue).map(([name, value]): Mutation => ({
    describe: `rlimit ${name}`, path: `resources.rlimits.${name}`,
    apply: (s) => ({ ...s, resources: { rlimits: { [name]: value } } }),
  })),
  fc.tuple(rlimitKey, fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 1, max: 1000 }), fc.boolean()).map(([name, hard, over, asText]): Mutation => ({
    describe: `rlimit ${name} soft above hard`, path: `resources.rlimits.${name}`,
    apply: (s) => ({ ...s, resources: { rlimits: { [name]: asText ? `${hard + over}:${hard}` : { soft: hard + over, hard } } } }),
  })),
  fc.tuple(rlimitKey, fc.stringMatching(/^[a-z]{1,6}$/)).map(([name, junk]): Mutation => ({
    describe: `rlimit ${name} hard '${junk}'`, path: `resources.rlimits.${name}`,
    apply: (s) => ({ ...s, resources: { rlimits: { [name]: `10:${junk}` } } }),
  })),
  fc.constant<Mutation>({
    describe: 'rtprio rlimit with rtPriority', path: 'resources.rlimits.rtprio',
    apply: (s) => ({ ...s, version: '1.0', rtPriority: 3, resources: { rlimits: { rtprio: 1 } } }),
  }),
  fc.constantFrom('user', 'mount', 'cgroup', 'net', 'NETWORK', '').map((ns): Mutation => ({
    describe: `hostNamespaces ${ns}`, path: 'hostNamespaces[0]', apply: (s) => ({ ...s, hostNamespaces: [ns] }),
  })),
  fc.constant<Mutation>({
    describe: 'host pid namespace in a user namespace', path: 'hostNamespaces[0]',
    apply: (s) => ({ ...s, userNs: true, hostNamespaces: ['pid'] }),
  }),
  fc.constantFrom('nat', 'private').map((network): Mutation => ({
    describe: `host network with network ${network}`, path: 'hostNamespaces[0]',
    apply: (s) => ({ ...s, network, hostNamespaces: ['network'] }),
  })),
);
