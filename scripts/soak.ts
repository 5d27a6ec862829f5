// npm run soak: 1000 start/stop cycles (batches of 1-10 at once) against a real dobbyd on a private bus with real crun;
// prints the daemon's RSS and open fds before, every 100 cycles and after. Target: RSS growth < 5 MB, fds back to baseline.
// Usage: node scripts/soak.ts [--cycles N] [--warmup N (100)] [--seed S] [--keep] [--heap-snapshots]   (outside npm test; needs root, crun, conmon, dbus-daemon)
//   --heap-snapshots: the daemon writes a V8 heap snapshot into the scratch dir at the baseline and at the end (implies --keep).

import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusClient, type Reply } from '../src/api/cli/bus-client.ts';
import { makeBundle } from '../test/helpers/bundle.ts';
import { openFds, processFootprint, startDobbyd, type DobbydProcess } from '../test/helpers/dobbyd-process.ts';

const { values } = parseArgs({
  options: { cycles: { type: 'string' }, warmup: { type: 'string' }, seed: { type: 'string' }, keep: { type: 'boolean' }, 'heap-snapshots': { type: 'boolean' } },
});
const CYCLES = Number(values.cycles ?? '1000');
const WARMUP = Number(values.warmup ?? '100');
const SEED = Number(values.seed ?? String(Date.now() % 1_000_000));
const MB = 1024 * 1024;
const RSS_TARGET = 5 * MB;

const hadCaCerts = process.env['NODE_EXTRA_CA_CERTS'] !== undefined;
delete process.env['NODE_EXTRA_CA_CERTS'];

/** mulberry32: a seeded PRNG so a run's batch sizes can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DEST = { destination: 'org.rdk.dobby', path: '/org/rdk/dobby' };
const ctrl = (client: BusClient, member: string, signature: string, body: Reply['body']): Promise<Reply> =>
  client.call({ ...DEST, interface: 'org.rdk.dobby.ctrl1', member, signature, body, timeoutMs: 60_000 });

interface Sample {
  readonly label: string;
  readonly cycles: number;
  readonly rssBytes: number;
  readonly fds: number;
}

function line(s: Sample, base: Sample | null): string {
  const rss = `${(s.rssBytes / MB).toFixed(1)} MB`;
  const delta = base === null ? '' : ` (${s.rssBytes >= base.rssBytes ? '+' : ''}${((s.rssBytes - base.rssBytes) / MB).toFixed(2)} MB, fds ${s.fds - base.fds >= 0 ? '+' : ''}${s.fds - base.fds})`;
  return `${s.label.padEnd(22)} cycles ${String(s.cycles).padStart(5)}  rss ${rss.padStart(9)}  fds ${String(s.fds).padStart(4)}${delta}`;
}

/** Asks the daemon (started with --heapsnapshot-signal=SIGUSR2) for a heap snapshot and waits until it is written. */
async function heapSnapshot(daemon: DobbydProcess, dir: string): Promise<void> {
  const count = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.heapsnapshot'));
  const before = count().length;
  process.kill(daemon.pid, 'SIGUSR2');
  // The daemon is blocked while it writes; a Ping answers once it is done.
  for (let i = 0; i < 600 && count().length === before; i++) await sleep(100);
  const client = await BusClient.connect(daemon.address);
  await client.call({ ...DEST, interface: 'org.rdk.dobby.admin1', member: 'Ping', timeoutMs: 120_000 });
  client.close();
  process.stdout.write(`soak: heap snapshot ${count().at(-1) ?? '?'} written in ${dir}\n`);
}

async function main(): Promise<number> {
  const tag = randomBytes(3).toString('hex');
  const dir = join('/tmp', `dobby-soak-${tag}`);
  mkdirSync(dir, { recursive: true });
  process.stdout.write(`soak: ${CYCLES} start/stop cycles in batches of 1-10 after ${WARMUP} warm-up cycles, seed ${SEED}, scratch ${dir}\n`);
  process.stdout.write(`soak: NODE_EXTRA_CA_CERTS ${hadCaCerts
    ? 'was set: unset for this run and for the daemon (it makes Node start slowly and grow)'
    : 'is unset for this run and for the daemon (npm run soak runs under env -u NODE_EXTRA_CA_CERTS)'}\n`);
  let daemon: DobbydProcess | undefined;
  let client: BusClient | undefined;
  try {
    const slots = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      makeBundle(join(dir, 'bundles', `slot${i}`), { init: true, args: ['/bin/sleep', '1000'] })));
    // DOBBY_SOAK_NODE_OPTIONS reaches the daemon only (e.g. --trace-gc, --max-old-space-size=N to tell a leak from a lazy GC).
    const snapshots = values['heap-snapshots'] === true;
    const nodeOptions = [process.env['DOBBY_SOAK_NODE_OPTIONS'], snapshots ? '--heapsnapshot-signal=SIGUSR2' : undefined].filter((o) => o !== undefined).join(' ') || undefined;
    // DOBBY_SOAK_NODE_FLAGS: flags NODE_OPTIONS refuses (--trace-gc); the daemon's stderr is kept with --keep.
    const nodeFlags = process.env['DOBBY_SOAK_NODE_FLAGS']?.split(' ').filter((f) => f !== '');
    daemon = await startDobbyd(join(dir, 'state'), ['--stop-grace', '2'], {
      env: nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }, cwd: dir, ...(nodeFlags === undefined ? {} : { nodeFlags }),
    });
    client = await BusClient.connect(daemon.address);
    const waiting = new Map<string, () => void>();
    client.onSignal((m) => {
      if (m.interface === 'org.rdk.dobby.ctrl1' && m.member === 'Stopped') waiting.get(String(m.body[1]))?.();
    });
    await client.addMatch("type='signal',interface='org.rdk.dobby.ctrl1',member='Stopped'");

    const samples: Sample[] = [];
    const sample = (label: string, cycles: number): Sample => {
      const s = { label, cycles, ...processFootprint(daemon!.pid) };
      samples.push(s);
      return s;
    };
    const before = sample('before (fresh daemon)', 0);
    process.stdout.write(`${line(before, null)}\n`);

    const random = prng(SEED);
    let done = 0;
    let failures = 0;
    let n = 0;
    let began = performance.now();
    /** One batch: start k containers at once, then stop them all (graceful or forced) and wait for each Stopped. */
    const batch = async (k: number): Promise<void> => {
      const ids = Array.from({ length: k }, () => `soak-${tag}-${++n}`);
      const started = await Promise.all(ids.map(async (id, i) => {
        const reply = await ctrl(client!, 'StartFromBundle', 'ssah', [id, slots[i]!, []]);
        return { id, cd: Number(reply.body[0]) };
      }));
      await Promise.all(started.map(async ({ id, cd }) => {
        if (!(cd > 0)) {
          failures++;
          process.stdout.write(`soak: start of ${id} replied ${cd}\n`);
          return;
        }
        const stopped = new Promise<void>((resolve) => waiting.set(id, resolve));
        const force = random() < 0.5;
        const reply = await ctrl(client!, 'Stop', 'ib', [cd, force]);
        if (reply.body[0] !== true) {
          failures++;
          process.stdout.write(`soak: Stop of ${id} (${cd}) replied ${String(reply.body[0])}\n`);
          waiting.delete(id);
          return;
        }
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            failures++;
            process.stdout.write(`soak: no Stopped signal for ${id} within 30 s\n`);
            resolve();
          }, 30_000);
        });
        await Promise.race([stopped, late]);
        clearTimeout(timer);
        waiting.delete(id);
      }));
    };

    // Warm-up (not counted): the first starts load and compile code paths and let V8 size its heap for this
    // load; the baseline is taken after them, the 1000 measured cycles follow.
    while (done < WARMUP) {
      const k = Math.min(1 + Math.floor(random() * 10), WARMUP - done);
      await batch(k);
      done += k;
    }
    done = 0;
    began = performance.now();
    await sleep(1_000);
    if (snapshots) await heapSnapshot(daemon, dir);
    const baseline = sample('baseline (warmed up)', done);
    process.stdout.write(`${line(baseline, before)}\n`);
    let nextReport = 100;
    while (done < CYCLES) {
      const k = Math.min(1 + Math.floor(random() * 10), CYCLES - done);
      await batch(k);
      done += k;
      if (done >= nextReport) {
        process.stdout.write(`${line(sample('during', done), baseline)}\n`);
        nextReport += 100;
      }
    }
    const seconds = (performance.now() - began) / 1000;
    const list = await ctrl(client, 'List', '', []);
    const left = (list.body[1] as readonly string[]).filter((id) => id.startsWith(`soak-${tag}-`));
    const runtimeLeft = readdirSync(join(dir, 'state', 'runtime')).filter((e) => e.startsWith(`soak-${tag}-`));
    const after = sample('after', done);
    process.stdout.write(`${line(after, baseline)}\n`);
    await sleep(10_000);
    const idle = sample('after 10 s idle', done);
    if (snapshots) await heapSnapshot(daemon, dir);
    process.stdout.write(`${line(idle, baseline)}\n`);

    const growth = idle.rssBytes - baseline.rssBytes;
    const fdsBack = idle.fds <= baseline.fds;
    process.stdout.write(`soak: ${done} cycles in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(1)} cycles/s), ${failures} failure(s); `
      + `containers left: ${left.length} listed, ${runtimeLeft.length} in the runtime root\n`);
    process.stdout.write(`soak: RSS growth ${(growth / MB).toFixed(2)} MB over the warmed-up baseline (target < 5 MB: ${growth < RSS_TARGET ? 'met' : 'NOT met'}); `
      + `growth from the fresh daemon ${((idle.rssBytes - before.rssBytes) / MB).toFixed(2)} MB; `
      + `fds ${baseline.fds} -> ${idle.fds} (back to baseline: ${fdsBack ? 'yes' : 'NO'})\n`);
    if (!fdsBack) process.stdout.write(`soak: open fds now:\n  ${openFds(daemon.pid).join('\n  ')}\n`);
    const ok = failures === 0 && left.length === 0 && runtimeLeft.length === 0 && growth < RSS_TARGET && fdsBack && daemon.alive();
    process.stdout.write(`soak: ${ok ? 'PASS' : 'FAIL'}\n`);
    return ok ? 0 : 1;
  } finally {
    client?.close();
    const code = await daemon?.stop();
    if (daemon !== undefined && code !== 0) process.stdout.write(`soak: dobbyd exited with ${String(code)}; its stderr ends:\n${daemon.stderr().slice(-2000)}\n`);
    if (daemon !== undefined && (values.keep === true || values['heap-snapshots'] === true)) { writeFileSync(join(dir, 'dobbyd.stderr'), daemon.stderr()); writeFileSync(join(dir, 'dobbyd.stdout'), daemon.stdout()); }
    if (values.keep !== true && values['heap-snapshots'] !== true) rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
