// Fuzzes a running dobbyd over a private bus: >= 10,000 generated calls (known and unknown members, every D-Bus
// type, huge strings, noncharacters, fds and fd indexes past the end, unknown header fields); every reply must be
// the documented one, the daemon must stay up and answering, and nothing may leak (fds, containers, bundles).

import assert from 'node:assert/strict';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { run } from '../../src/drivers/process.ts';
import { ADMIN, CTRL, OBJECT, UNKNOWN_METHOD, configTextArb, expectedReply, fuzzCallArb, mismatch, show, stringArb, type FuzzCall } from '../helpers/dbus-fuzz.ts';
import { bundleConfig, makeBundle } from '../helpers/bundle.ts';
import { mutation, validSpec } from '../spec/arbitraries.ts';
import { processFootprint, openFds, startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { RawBus, encodeBigEndianCall, type CallOutcome, type RawCall } from '../helpers/raw-dbus.ts';
import { makeScratch } from '../helpers/scratch.ts';

const CALLS = Number(process.env['DOBBY_FUZZ_CALLS'] ?? '10000');
const SEED = Number(process.env['DOBBY_FUZZ_SEED'] ?? String(Date.now() % 2 ** 31));
const BUNDLE_STARTS = Number(process.env['DOBBY_FUZZ_BUNDLES'] ?? '100');
const SPEC_STARTS = Number(process.env['DOBBY_FUZZ_SPECS'] ?? '100');
const CONNECTIONS = 4;
const IN_FLIGHT = 8;

const scratch = makeScratch();

/** Sends calls on a few connections with many in flight; reconnects when the bus drops one. */
class Pipeline {
  readonly #address: string;
  #buses: RawBus[] = [];
  disconnects = 0;
  /** Socket errors that ended connections (the rest were closed by the bus). */
  readonly errors = new Set<string>();

  constructor(address: string) {
    this.#address = address;
  }

  async open(): Promise<void> {
    this.#buses = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawBus.connect(this.#address)));
  }

  async #bus(i: number): Promise<RawBus> {
    const bus = this.#buses[i]!;
    if (!bus.closed) return bus;
    this.disconnects++;
    if (bus.lastError !== null) this.errors.add(bus.lastError.message);
    this.#buses[i] = await RawBus.connect(this.#address);
    return this.#buses[i]!;
  }

  /** Runs every call, at most IN_FLIGHT per connection at once; `check` sees each outcome. */
  async run(calls: readonly FuzzCall[], check: (c: FuzzCall, o: CallOutcome) => void): Promise<void> {
    let next = 0;
    const lane = async (i: number): Promise<void> => {
      for (;;) {
        const k = next++;
        if (k >= calls.length) return;
        const c = calls[k]!;
        const bus = await this.#bus(i % CONNECTIONS);
        const noReply = c.expected.kind === 'none';
        check(c, await bus.call(c.call, noReply ? 1_500 : 30_000));
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS * IN_FLIGHT }, (_, i) => lane(i)));
  }

  close(): void {
    for (const bus of this.#buses) bus.close();
  }
}

describe('D-Bus fuzzing of a running dobbyd', () => {
  let daemon: DobbydProcess | undefined;
  let pipeline: Pipeline | undefined;
  const pool: number[] = [];
  let baselineFds = 0;
  let base = '';

  after(async () => {
    pipeline?.close();
    for (const fd of pool) closeSync(fd);
    await daemon?.stop();
  });
  before(async () => {
    daemon = await startDobbyd(join(scratch.dir, 'state'), ['--log-level', 'error']);
    // The fds a call may carry: a file, a directory, /dev/null, a FIFO (both ends), a deleted file, a namespace.
    const files = join(scratch.dir, 'fds');
    mkdirSync(files);
    writeFileSync(join(files, 'plain'), 'x');
    writeFileSync(join(files, 'deleted'), 'y');
    assert.equal((await run('mkfifo', [join(files, 'fifo')])).code, 0);
    pool.push(
      openSync(join(files, 'plain'), 'r'), openSync(files, 'r'), openSync('/dev/null', 'r+'),
      openSync(join(files, 'fifo'), 'r+'), openSync(join(files, 'deleted'), 'r'), openSync('/proc/self/ns/net', 'r'),
    );
    unlinkSync(join(files, 'deleted'));
    pipeline = new Pipeline(daemon.address);
    await pipeline.open();
    const ping = await pipeline.run([{ call: { destination: 'org.rdk.dobby', path: OBJECT, interface: ADMIN, member: 'Ping', signature: '', body: [] }, expected: { kind: 'return', signature: '', body: [] }, label: 'ping' }], () => {});
    void ping;
    // One container first: what the daemon makes once, lazily (the exit watcher's inotify), is in the baseline.
    base = await makeBundle(join(scratch.dir, 'base'), { init: true, args: ['/bin/sleep', '30'] });
    const warm = await RawBus.connect(daemon.address);
    const cd = await warm.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'StartFromBundle', signature: 'ssah', body: ['fuzz-warm-up', base, []] });
    assert.equal(cd.kind, 'return');
    await warm.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'Stop', signature: 'ib', body: [cd.kind === 'return' ? cd.body[0]! : 0, true] });
    for (let i = 0; i < 200 && (await leftovers(daemon.stateDir, 'fuzz-warm-up')).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    warm.close();
    baselineFds = processFootprint(daemon.pid).fds;
  });

  test(`${CALLS} generated calls: every reply is the documented one, the daemon stays up and leaks no fd (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const calls = fc.sample(fuzzCallArb(pool), { numRuns: CALLS, seed: SEED });
    const problems: string[] = [];
    let replied = 0;
    const started = performance.now();
    await pipeline!.run(calls, (c, outcome) => {
      if (outcome.kind === 'disconnected') return; // the bus refused what we sent: counted, not the daemon's fault
      replied++;
      const why = mismatch(c.expected, outcome);
      if (why !== null && problems.length < 25) problems.push(`${c.label}: ${why}\n    call: ${show({ ...c.call, body: c.call.body })}`);
    });
    const seconds = (performance.now() - started) / 1000;
    const kinds = new Map<string, number>();
    for (const c of calls) kinds.set(c.label.split(' ')[0]!, (kinds.get(c.label.split(' ')[0]!) ?? 0) + 1);
    process.stdout.write(`# fuzz: ${calls.length} calls in ${seconds.toFixed(1)} s (${(calls.length / seconds).toFixed(0)}/s), seed ${SEED}, `
      + `${pipeline!.disconnects} connection(s) dropped${pipeline!.errors.size > 0 ? ` (${[...pipeline!.errors].join('; ')})` : ' by the bus'}, mix ${show(Object.fromEntries(kinds))}\n`);
    assert.deepEqual(problems, [], `replies differ from the contract (replay with DOBBY_FUZZ_SEED=${SEED})`);
    // A few drops per 10,000 happen only with many fd-carrying calls in flight (never one at a time, same seed):
    // most likely the bus running short of fds (it cannot raise its own limit here, see its log). More would
    // mean the generator makes messages the bus refuses.
    assert.ok(pipeline!.disconnects < calls.length / 100, `the bus dropped ${pipeline!.disconnects} connections: the generator makes invalid messages`);
    assert.ok(replied >= calls.length * 0.99);
    assert.ok(daemon!.alive(), `dobbyd died: ${daemon!.stderr().slice(-3000)}`);
    await assertHealthy(daemon!, pipeline!, baselineFds);
  });

  test('8 MiB strings in every string argument of a known member get the failure value', { timeout: 180_000 }, async () => {
    const huge = 'é'.repeat(4 << 20);
    const calls: RawCall[] = [
      { path: OBJECT, interface: CTRL, member: 'StartFromBundle', signature: 'ssah', body: [huge, '/tmp', []] },
      { path: OBJECT, interface: CTRL, member: 'StartFromSpec', signature: 'ssah', body: ['fuzz-huge', huge, []] },
      { path: OBJECT, interface: CTRL, member: 'Annotate', signature: 'iss', body: [734, huge, huge.slice(0, 1 << 20)] },
      { path: OBJECT, interface: CTRL, member: 'Mount', signature: 'issass', body: [734, huge, '/x', [huge.slice(0, 1 << 20)], ''] },
      { path: OBJECT, interface: CTRL, member: 'Exec', signature: 'iss', body: [734, '', huge] },
      { path: OBJECT, interface: 'org.rdk.dobby.debug1', member: 'CreateBundle', signature: 'ss', body: ['fuzz-huge', huge] },
      { path: OBJECT, interface: ADMIN, member: 'SetAIDbusAddress', signature: 'bs', body: [true, huge] },
      { path: OBJECT, interface: CTRL, member: huge.length > 0 ? 'NoSuchMember' : '', signature: 's', body: [huge] },
    ];
    const fuzz: FuzzCall[] = calls.map((call) => ({ call: { destination: 'org.rdk.dobby', ...call }, expected: expectedReply(call), label: `huge ${call.member}` }));
    const problems: string[] = [];
    await pipeline!.run(fuzz, (c, o) => {
      const why = mismatch(c.expected, o);
      if (why !== null) problems.push(`${c.label}: ${why}`);
    });
    assert.deepEqual(problems, []);
    await assertHealthy(daemon!, pipeline!, baselineFds);
  });

  test('messages the bus forwards as they are: fd indexes past the end, fds no h refers to, big-endian', async () => {
    const c = (call: Omit<RawCall, 'destination' | 'path'>, expected: FuzzCall['expected'], label: string): FuzzCall =>
      ({ call: { destination: 'org.rdk.dobby', path: OBJECT, ...call }, expected, label });
    const fd = pool[0]!;
    const problems: string[] = [];
    await pipeline!.run([
      c({ interface: CTRL, member: 'StartFromBundle', signature: 'ssah', body: ['fuzz-fd', '/tmp', [5]] }, { kind: 'return', signature: 'i', body: [-1] }, 'ah index 5, no fds'),
      c({ interface: CTRL, member: 'StartFromBundle', signature: 'ssah', body: ['fuzz-fd', '/tmp', [0, 1]], fds: [fd] }, { kind: 'return', signature: 'i', body: [-1] }, 'ah index 1 of 1 fd'),
      c({ interface: ADMIN, member: 'SetLogMethod', signature: 'uh', body: [3, 7] }, { kind: 'return', signature: 'b', body: [false] }, 'uh index 7, no fds'),
      c({ interface: ADMIN, member: 'Ping', signature: 'h', body: [9] }, { kind: 'return', signature: '', body: [] }, 'Ping with h index 9'),
      c({ interface: CTRL, member: 'GetState', signature: 'i', body: [734], fds: [fd, fd, fd] }, { kind: 'return', signature: 'i', body: [0] }, 'three fds no h refers to'),
      c({ interface: CTRL, member: 'NoSuchMember', signature: 'a{hs}', body: [[[0, 'a'], [1, 'b']]], fds: [fd, fd] }, { kind: 'error', name: UNKNOWN_METHOD }, 'fds as dictionary keys'),
    ], (call, outcome) => {
      const why = mismatch(call.expected, outcome);
      if (why !== null) problems.push(`${call.label}: ${why}`);
    });
    // Big-endian messages (the bus forwards them as sent): answered like little-endian ones.
    const raw = await RawBus.connect(daemon!.address);
    for (const [member, iface, signature, body, expected] of [
      ['GetState', CTRL, 'i', [734], [0]], ['Ping', ADMIN, '', [], []], ['Annotate', CTRL, 'iss', [734, 'k', 'v'], [false]],
      ['GetInfo', CTRL, 's', ['x'], ['']], ['StartFromBundle', CTRL, 'ss', ['x', '/tmp'], [-1]],
    ] as const) {
      const serial = raw.nextSerial();
      const outcome = await raw.callEncoded(serial, encodeBigEndianCall(serial, { path: OBJECT, interface: iface, member, destination: 'org.rdk.dobby', signature, body }), 10_000);
      if (outcome.kind !== 'return' || show(outcome.body) !== show(expected)) problems.push(`big-endian ${member}(${signature}): ${show(outcome)}`);
    }
    raw.close();
    assert.deepEqual(problems, []);
    assert.ok(!/No FDs available|uncaught/.test(daemon!.stderr()), daemon!.stderr().slice(-2000));
    await assertHealthy(daemon!, pipeline!, baselineFds);
  });

  test('generated bundles and specs through StartFromBundle/StartFromSpec: a -1 leaves nothing, every start is stopped', { timeout: 600_000 }, async () => {
    const config = bundleConfig(join(base, 'rootfs'), { init: true, args: ['/bin/sleep', '30'] });
    const bundleCases = fc.sample(fc.tuple(configTextArb, fc.constantFrom('ssah', 'ssahssas', 'ssahssasuu'), fc.boolean(), stringArb.filter((x) => x.length < 100)), { numRuns: BUNDLE_STARTS, seed: SEED });
    const specCases = fc.sample(fc.tuple(fc.oneof(validSpec.map(tame), fc.tuple(validSpec.map(tame), mutation).map(([spec, m]) => m.apply(spec))), fc.boolean()), { numRuns: SPEC_STARTS, seed: SEED + 1 });
    const raw = await RawBus.connect(daemon!.address);
    const problems: string[] = [];
    let started = 0;
    let n = 0;
    const one = async (label: string, call: (id: string) => RawCall): Promise<void> => {
      const id = `fz-${SEED % 100000}-${++n}`;
      const reply = await raw.call({ destination: 'org.rdk.dobby', ...call(id) }, 60_000);
      const cd = reply.kind === 'return' ? Number(reply.body[0]) : NaN;
      if (!(cd === -1 || (Number.isInteger(cd) && cd >= 1 && cd <= 1023))) {
        problems.push(`${label}: reply ${show(reply)}`);
        return;
      }
      if (cd > 0) {
        started++;
        await raw.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'Stop', signature: 'ib', body: [cd, true] });
        for (let i = 0; i < 200; i++) {
          const state = await raw.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'GetState', signature: 'i', body: [cd] });
          if (state.kind === 'return' && state.body[0] === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const left = await leftovers(daemon!.stateDir, id);
      if (left.length > 0) problems.push(`${label} (${cd > 0 ? 'started, stopped' : '-1'}): left behind ${left.join(', ')}`);
    };
    for (const [i, [text, form, withFd, command]] of bundleCases.entries()) {
      const dir = join(scratch.dir, 'gen', `b${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), text.text(config));
      const fds = withFd ? [pool[0]!] : [];
      const extra = form === 'ssah' ? [] : form === 'ssahssas' ? [command, '', ['A=1', 'B']] : [command, '', ['A=1'], 1000, 1000];
      await one(`bundle ${text.label} (${form})`, (id) => ({ path: OBJECT, interface: CTRL, member: 'StartFromBundle', signature: form, body: [id, dir, withFd ? [0] : [], ...extra], fds }));
    }
    for (const [spec, viaStart] of specCases) {
      await one(`spec ${show(spec).slice(0, 200)}`, (id) => ({ path: OBJECT, interface: CTRL, member: viaStart ? 'Start' : 'StartFromSpec', signature: 'ssah', body: [id, JSON.stringify(spec), []] }));
    }
    raw.close();
    process.stdout.write(`# start fuzz: ${bundleCases.length} bundles and ${specCases.length} specs, ${started} started (and stopped), seed ${SEED}\n`);
    assert.deepEqual(problems, [], `replay with DOBBY_FUZZ_SEED=${SEED}`);
    assert.ok(daemon!.alive());
    await assertHealthy(daemon!, pipeline!, baselineFds);
  });
});

/**
 * What a container id left behind: paths under the state dir naming it (logs aside), processes
 * whose command line names it (conmon, crun), cgroup directories named after it.
 */
async function leftovers(stateDir: string, id: string): Promise<string[]> {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      // The id as a whole name, or a name it starts (id.pid, id.12345 bundles), never a longer id.
      if ((e.name === id || e.name.startsWith(`${id}.`)) && !p.startsWith(join(stateDir, 'logs'))) out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(stateDir);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg === id || arg.endsWith(`/${id}`) || arg.includes(`/${id}.`) || arg.includes(`/${id}/`))) out.push(`process ${pid}`);
    } catch {
      // gone
    }
  }
  const found = await run('find', ['/sys/fs/cgroup', '-maxdepth', '6', '-type', 'd', '(', '-name', id, '-o', '-name', `*-${id}.scope`, ')']);
  out.push(...found.stdout.split('\n').filter((l) => l !== ''));
  return out;
}

/**
 * Specs the start fuzz may run on a shared host: no networking, plugins, host devices, loop mounts or restarts.
 * Nor the OOM killer disabled with a tiny memLimit: crun create then blocks in uninterruptible sleep inside
 * the container's memory cgroup, and dobbyd's kill after its create timeout cannot end it (a known problem,
 * see the report of issue 7; the process stays until someone raises that cgroup's limit).
 */
function tame(spec: Record<string, unknown>): Record<string, unknown> {
  const out = { ...spec };
  if (typeof out['memLimit'] === 'number' && out['memLimit'] < 16 * 2 ** 20) out['memLimit'] = 16 * 2 ** 20;
  if (typeof out['resources'] === 'object' && out['resources'] !== null) {
    const resources = { ...(out['resources'] as Record<string, unknown>) };
    delete resources['oomKillDisable'];
    out['resources'] = resources;
  }
  for (const k of ['network', 'plugins', 'rdkPlugins', 'gpu', 'vpu', 'dbus', 'syslog', 'devices', 'restartOnCrash', 'console']) delete out[k];
  if (Array.isArray(out['hostNamespaces'])) out['hostNamespaces'] = (out['hostNamespaces'] as string[]).filter((ns) => ns !== 'network' && ns !== 'pid');
  if (Array.isArray(out['mounts'])) out['mounts'] = (out['mounts'] as { type?: string }[]).filter((m) => m.type !== 'loop');
  return out;
}

/** Alive, answering Ping, no fd more than before, no container, no bundle, nothing in the runtime root. */
async function assertHealthy(daemon: DobbydProcess, pipeline: Pipeline, baselineFds: number): Promise<void> {
  const outcomes: CallOutcome[] = [];
  await pipeline.run([
    // The console again: an ethanlog target the fuzzing set holds its pipe (an fd) for as long as it is the target.
    { call: { destination: 'org.rdk.dobby', path: OBJECT, interface: ADMIN, member: 'SetLogMethod', signature: 'uu', body: [3, 0] }, expected: { kind: 'return', signature: 'b', body: [true] }, label: 'console' },
    { call: { destination: 'org.rdk.dobby', path: OBJECT, interface: ADMIN, member: 'Ping', signature: '', body: [] }, expected: { kind: 'return', signature: '', body: [] }, label: 'ping' },
    { call: { destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'List', signature: '', body: [] }, expected: { kind: 'return', signature: 'aias', body: [[], []] }, label: 'list' },
  ], (_c, o) => outcomes.push(o));
  assert.deepEqual(outcomes.map((o) => o.kind), ['return', 'return', 'return'], show(outcomes));
  assert.ok(daemon.alive());
  // Fds of calls are closed once answered; give the last ones a moment.
  let fds = processFootprint(daemon.pid).fds;
  for (let i = 0; i < 50 && fds > baselineFds; i++) {
    await new Promise((r) => setTimeout(r, 100));
    fds = processFootprint(daemon.pid).fds;
  }
  assert.ok(fds <= baselineFds, `dobbyd holds ${fds} fds, ${baselineFds} before the fuzzing:\n${openFds(daemon.pid).join('\n')}`);
  const state = daemon.stateDir;
  const entries = (dir: string): string[] => {
    try {
      return readdirSync(join(state, dir));
    } catch {
      return [];
    }
  };
  assert.deepEqual(entries('runtime'), [], 'no container in the runtime root');
  assert.deepEqual(entries('bundles'), [], 'no bundle made');
  assert.deepEqual(entries('containers'), [], 'no container record');
}
