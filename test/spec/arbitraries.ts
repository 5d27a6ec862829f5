// fast-check arbitraries: valid Dobby specs (as plain objects), host options, and mutations that break a spec.

import fc from 'fast-check';
import { KNOWN_CAPABILITIES } from '../../src/spec/index.ts';
import type { SpecToOciOptions } from '../../src/spec/index.ts';
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
}, { requiredKeys: [] });

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
  return spec;
});

export const hostOptions: fc.Arbitrary<SpecToOciOptions> = fc.record({
  cgroupVersion: fc.constantFrom(1 as const, 2 as const),
  hasLib64: fc.boolean(),
  onlineCpus: fc.integer({ min: 1, max: 16 }),
  pidsLimit: fc.constantFrom(256, 64, null),
  realtimeCpu: fc.boolean(),
  nofile: fc.integer({ min: 64, max: 1 << 20 }),
}).map(({ nofile, ...facts }) => ({ ...HOST, ...facts, hardLimits: { RLIMIT_NOFILE: nofile, RLIMIT_RTPRIO: 0 } }));

/** A change that makes any valid spec invalid, and the path the error must name. */
export interface Mutation {
  readonly describe: string;
  readonly path: string;
  readonly apply: (spec: Spec) => Spec;
}

const FIELDS = [
  'version', 'args', 'user', 'userNs', 'memLimit', 'swapLimit', 'env', 'cwd', 'console', 'network', 'mounts', 'cpu',
  'rtPriority', 'gpu', 'vpu', 'dbus', 'syslog', 'devices', 'capabilities', 'seccomp', 'etc', 'restartOnCrash',
  'plugins', 'rdkPlugins',
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
);
