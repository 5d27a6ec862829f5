// Fuzzes a running dobbyd over a private bus: >= 10,000 generated calls (known and unknown members, every D-Bus
// type, huge strings, noncharacters, fds and fd indexes past the end, unknown header fields); every reply must be
// the documented one, the daemon must stay up and answering, and nothing may leak (fds, containers, bundles).

import assert from 'node:assert/strict';
import { mkdirSync, openSync, closeSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { run } from '../../src/drivers/process.ts';
import { ADMIN, CTRL, OBJECT, expectedReply, fuzzCallArb, mismatch, show, type FuzzCall } from '../helpers/dbus-fuzz.ts';
import { processFootprint, openFds, startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { RawBus, type CallOutcome, type RawCall } from '../helpers/raw-dbus.ts';
import { makeScratch } from '../helpers/scratch.ts';

const CALLS = Number(process.env['DOBBY_FUZZ_CALLS'] ?? '10000');
const SEED = Number(process.env['DOBBY_FUZZ_SEED'] ?? String(Date.now() % 2 ** 31));
const CONNECTIONS = 4;
const IN_FLIGHT = 8;

const scratch = makeScratch();

/** Sends calls on a few connections with many in flight; reconnects when the bus drops one. */
class Pipeline {
  readonly #address: string;
  #buses: RawBus[] = [];
  disconnects = 0;

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
      + `${pipeline!.disconnects} connection(s) dropped by the bus, mix ${show(Object.fromEntries(kinds))}\n`);
    assert.deepEqual(problems, [], `replies differ from the contract (replay with DOBBY_FUZZ_SEED=${SEED})`);
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
});

/** Alive, answering Ping, no fd more than before, no container, no bundle, nothing in the runtime root. */
async function assertHealthy(daemon: DobbydProcess, pipeline: Pipeline, baselineFds: number): Promise<void> {
  const outcomes: CallOutcome[] = [];
  await pipeline.run([
    { call: { destination: 'org.rdk.dobby', path: OBJECT, interface: ADMIN, member: 'Ping', signature: '', body: [] }, expected: { kind: 'return', signature: '', body: [] }, label: 'ping' },
    { call: { destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'List', signature: '', body: [] }, expected: { kind: 'return', signature: 'aias', body: [[], []] }, label: 'list' },
  ], (_c, o) => outcomes.push(o));
  assert.deepEqual(outcomes.map((o) => o.kind), ['return', 'return'], show(outcomes));
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
