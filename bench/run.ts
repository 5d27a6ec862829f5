// npm run bench: dobbyd (a real daemon process, driven by a thin Python D-Bus client that times its
// own calls) against yardsticks run from a shell script in the same run, alternately (A B C A B C …
// after warm-up rounds): raw crun as a user runs it, the lean conmon path (conmon in a dir of its
// own, crun create, pid from the sync pipe, crun start), and for Dobby spec containers raw crun on
// the bundle dobbyd generates plus the same nat set-up by ip/iptables-restore. Every dobbyd figure
// is printed as a ratio against its yardstick, named, with PASS/MISS per target.

import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../src/drivers/process.ts';
import { makeBundle } from '../test/helpers/bundle.ts';
import { ThinDbusClient } from './dbus-driver.ts';
import { startBenchDaemon, type BenchDaemon } from './daemon.ts';
import { benchPorts } from './ports-bench.ts';
import { Report } from './report.ts';
import { bareNodeRssKiB, rssKiB } from './rss.ts';
import { alternate } from './stats.ts';
import { yardstick } from './yardstick.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 20);
const MANY_ROUNDS = Number(process.env['BENCH_MANY_ROUNDS'] ?? 8);
const WARMUP = 2;
const MANY = 10;
const CYCLES = 100;
const YS_BRIDGE = 'ysbr0';
// BENCH_ONLY=memory,bundle,many,spec,ports runs those sections only (all of them by default): a
// change to one path is measured in minutes, not the whole bench's half hour.
const SECTIONS = ['memory', 'bundle', 'many', 'spec', 'ports'] as const;
const ONLY = (process.env['BENCH_ONLY'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
for (const name of ONLY) {
  if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown section ${name} (sections: ${SECTIONS.join(', ')})`);
}
const wanted = (section: (typeof SECTIONS)[number]): boolean => ONLY.length === 0 || ONLY.includes(section);

async function must(file: string, args: readonly string[]): Promise<void> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/** Waits (bounded) until a process is gone or a zombie. */
async function waitGone(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (stat === null || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    await sleep(5);
  }
}

async function main(): Promise<void> {
  if (process.env['NODE_EXTRA_CA_CERTS'] !== undefined) {
    throw new Error('run the benchmark with NODE_EXTRA_CA_CERTS unset (npm run bench does this)');
  }
  const tag = String(process.pid);
  const dir = join('/tmp', `dobby-bench-${tag}`);
  const netns = `dobby-bench-${tag}`;
  const rawRoot = join(dir, 'raw-root');
  const monDir = join(dir, 'conmon-yardstick');
  let seq = 0;
  const uid = (what: string): string => `bench-${tag}-${what}-${seq++}`;
  await mkdir(dir, { recursive: true });
  const report = new Report();
  let daemon: Awaited<ReturnType<typeof startBenchDaemon>> | null = null;
  let client: ThinDbusClient | null = null;
  try {
    // Everything of the run (dobbyd's state dir, the yardsticks' crun root and bundles, the console
    // logs) on a tmpfs of its own, as on a device: there dobbyd's state (/run/dobby) and crun's root
    // (/run/crun) are on /run, a tmpfs. This machine's /tmp and /run are ext4, whose inode allocator
    // (recently_deleted) cost ~4 ms of CPU per start with ten at once and made both sides noisier.
    await must('mount', ['-t', 'tmpfs', '-o', 'mode=0755', `dobby-bench-${tag}`, dir]);
    // The bench's own network namespace: dobbyd's nat bridge and rules, and the shell yardstick's, go
    // there (an `eth0` of its own is the external interface dobbyd masquerades through by default).
    await must('ip', ['netns', 'add', netns]);
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    // A veth pair with both ends inside (this kernel has no dummy links): traffic never leaves.
    await must('ip', ['-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0']);
    await must('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    const sleeper = { args: ['/bin/sleep', '1000'], init: true } as const;
    const shared = await makeBundle(join(dir, 'one'), sleeper);
    const tens: string[] = [];
    for (let i = 0; i < MANY; i++) tens.push(await makeBundle(join(dir, `b${i}`), sleeper));
    const sharedConfig = await readFile(join(shared, 'config.json'));

    daemon = await startBenchDaemon(netns, join(dir, 'daemon-state'));
    client = await ThinDbusClient.connect(daemon.address);
    const c = client;
    const d = daemon;
    console.log(`dobby-ts bench: ${ROUNDS} rounds (${MANY_ROUNDS} for ${MANY} at once) after ${WARMUP} warm-up, variants alternated, medians`);
    console.log(`host: ${availableParallelism()} cores; NODE_EXTRA_CA_CERTS unset for every node (it makes each start ~2.5x slower)`);
    console.log('dobbyd: bin/dobbyd in the bench\'s network namespace, driven by bench/dbus-client.py (python3-dbus, one connection, it times its own calls)');
    console.log('yardsticks: bench/yardstick.sh, timed by bash ($EPOCHREALTIME); no Node in any yardstick');
    console.log(`files: dobbyd's state dir, the yardsticks' crun root, bundles and logs on one tmpfs (${dir}), as /run is on a device`);

    // 1. Memory: idle, then after CYCLES start/stop cycles.
    if (wanted('memory')) await benchMemory(d, c, shared, uid, report);

    // The lean conmon path needs a dir of its own per container holding the config (made untimed).
    const conmonDirs = async (n: number): Promise<Array<{ id: string; dir: string }>> =>
      Promise.all(Array.from({ length: n }, async () => {
        const id = uid('conmon');
        const own = join(monDir, id);
        await mkdir(own, { recursive: true });
        await writeFile(join(own, 'config.json'), sharedConfig);
        return { id, dir: own };
      }));
    const conmonCleanup = async (made: ReadonlyArray<{ id: string; dir: string }>): Promise<void> => {
      await yardstick(netns, ['delete', rawRoot, ...made.map((m) => m.id)]);
      await Promise.all(made.map(async (m) => {
        const pid = Number((await readFile(join(m.dir, 'conmon.pid'), 'utf8').catch(() => '')).trim());
        if (pid > 0) await waitGone(pid, 2000);
        await rm(m.dir, { recursive: true, force: true });
        await rm(join(monDir, 'exits', m.id), { force: true });
        await rm(join(monDir, 'sockets', m.id), { force: true });
      }));
    };
    const rawMany = async (bundles: readonly string[]): Promise<number> => {
      const ids = bundles.map(() => uid('raw'));
      const ms = await yardstick(netns, ['raw-start', rawRoot, ...ids.map((id, i) => `${id}=${bundles[i]}`)]);
      await yardstick(netns, ['delete', rawRoot, ...ids]);
      return ms;
    };
    const conmonMany = async (n: number): Promise<number> => {
      const made = await conmonDirs(n);
      const ms = await yardstick(netns, ['conmon-start', rawRoot, monDir, ...made.map((m) => `${m.id}=${m.dir}`)]);
      await conmonCleanup(made);
      return ms;
    };
    const dobbydMany = async (bundles: readonly string[]): Promise<number> => {
      const started = await c.startBundles(bundles.map((b) => [uid('dobbyd'), b] as const));
      await c.stop(started.descriptors, true);
      return started.ms;
    };

    const get = (m: Map<string, number[]>, k: string): number[] => m.get(k) ?? [];

    // 2. One bundle start → reply (Running).
    if (wanted('bundle')) {
      report.section('bundle start → running (one container, busybox sleep under tini)');
      const one = await alternate([
        { name: 'raw', run: () => rawMany([shared]) },
        { name: 'conmon', run: () => conmonMany(1) },
        { name: 'dobbyd', run: () => dobbydMany([shared]) },
      ], ROUNDS, WARMUP);
      report.figure('raw crun: run --detach + state (shell)', get(one, 'raw'));
      report.figure('lean conmon path: conmon + crun create, sync pipe, crun start', get(one, 'conmon'));
      report.figure('dobbyd StartFromBundle → reply', get(one, 'dobbyd'));
      report.ratio('bundle start', get(one, 'dobbyd'), 'the lean conmon path', get(one, 'conmon'), 1.05);
      report.ratio('bundle start', get(one, 'dobbyd'), 'raw crun', get(one, 'raw'));
    }

    // 3. Ten bundle starts at once, from ten bundle dirs and from one.
    if (wanted('many')) {
      report.section(`${MANY} bundle starts at once → all running`);
      const sharedTen = Array.from({ length: MANY }, () => shared);
      const many = await alternate([
        { name: 'raw10', run: () => rawMany(tens) },
        { name: 'raw1', run: () => rawMany(sharedTen) },
        { name: 'conmon', run: () => conmonMany(MANY) },
        { name: 'dobbyd10', run: () => dobbydMany(tens) },
        { name: 'dobbyd1', run: () => dobbydMany(sharedTen) },
      ], MANY_ROUNDS, 1);
      report.figure(`raw crun x${MANY}, ten bundle dirs (shell)`, get(many, 'raw10'));
      report.figure(`raw crun x${MANY}, one bundle dir (shell)`, get(many, 'raw1'));
      report.figure(`lean conmon path x${MANY}`, get(many, 'conmon'));
      report.figure(`dobbyd x${MANY}, ten bundle dirs`, get(many, 'dobbyd10'));
      report.figure(`dobbyd x${MANY}, one bundle dir`, get(many, 'dobbyd1'));
      report.ratio(`${MANY} bundle starts, ten dirs`, get(many, 'dobbyd10'), `raw crun x${MANY}, ten dirs`, get(many, 'raw10'), 1.3);
      report.ratio(`${MANY} bundle starts, one dir`, get(many, 'dobbyd1'), `raw crun x${MANY}, one dir`, get(many, 'raw1'), 1.3);
      report.ratio(`${MANY} bundle starts, ten dirs`, get(many, 'dobbyd10'), `the lean conmon path x${MANY}`, get(many, 'conmon'));
    }

    // 4. Dobby spec containers: nat + console file + memory limit.
    if (wanted('spec')) await benchSpec({ c, dir, netns, rawRoot, uid, report });

    // 5. Port-forwarding throughput (kernel nat and the builtin proxy against a direct connection).
    if (wanted('ports') && process.env['BENCH_PORTS'] !== '0') {
      await benchPorts({ rounds: Math.max(5, Math.round(ROUNDS / 3)), warmup: 1, mib: Number(process.env['BENCH_PORT_MB'] ?? 128), budgetMs: 90_000 });
    }
    report.summary();
  } finally {
    client?.close();
    await daemon?.stop();
    await yardstick(netns, ['nat-teardown', YS_BRIDGE]).catch(() => 0);
    await run('ip', ['netns', 'del', netns]);
    await run('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Idle RSS against a bare node, then the growth after CYCLES start/stop cycles. */
async function benchMemory(d: BenchDaemon, c: ThinDbusClient, shared: string, uid: (what: string) => string, report: Report): Promise<void> {
  report.section('memory (VmRSS)');
  await sleep(1500);
  const idle = await rssKiB(d.pid);
  const bare = await bareNodeRssKiB(process.execPath, 1500);
  console.log(`  bare node (node -e, idle 1.5 s)                            ${(bare / 1024).toFixed(1)} MiB`);
  console.log(`  dobbyd idle (1.5 s after start)                            ${(idle / 1024).toFixed(1)} MiB`);
  report.limit('idle RSS dobbyd / bare node', idle / bare, 'bare node idle', 1.25, 'x');
  const cycled = await c.cycles(shared, uid('cycle'), CYCLES);
  await sleep(1500);
  const after = await rssKiB(d.pid);
  console.log(`  dobbyd after ${CYCLES} StartFromBundle + Stop cycles (${(cycled.ms / CYCLES).toFixed(1)} ms each)        ${(after / 1024).toFixed(1)} MiB`);
  report.limit(`RSS after ${CYCLES} start/stop cycles - idle`, (after - idle) / 1024, 'dobbyd idle', 5, 'MiB');
}

interface SpecBenchOptions {
  readonly c: ThinDbusClient;
  readonly dir: string;
  readonly netns: string;
  readonly rawRoot: string;
  readonly uid: (what: string) => string;
  readonly report: Report;
}

/**
 * The spec path. The yardstick's bundle is the one dobbyd generates: the config it runs with
 * (GetOCIConfig) and a copy of its rootfs, taken from a container started once beforehand.
 */
async function benchSpec(o: SpecBenchOptions): Promise<void> {
  const { c, dir, netns, rawRoot, uid, report } = o;
  await mkdir(join(dir, 'console'), { recursive: true });
  const spec = (id: string): string => JSON.stringify({
    version: '1.0', args: ['sleep', '1000'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040, network: 'nat',
    console: { path: join(dir, 'console', `${id}.log`), limit: 65536 },
  });
  const first = uid('template');
  const [descriptor] = (await c.startSpecs([[first, spec(first)]])).descriptors as [number];
  const config = JSON.parse(await c.ociConfig(descriptor)) as { root: { path: string } };
  const rootfs = join(dir, 'spec-rootfs');
  await cp(config.root.path, rootfs, { recursive: true, verbatimSymlinks: true });
  // It stays up for the whole section: dobbyd's bridge (and its bridge rules) then stays up as the
  // shell's does, so both sides pay per container only; bringing the bridge up and down for the
  // first and last nat container is a cost the shell yardstick does not model.
  const resident = descriptor;
  config.root.path = rootfs;
  const bundles: string[] = [];
  for (let i = 0; i < MANY; i++) {
    const b = join(dir, `nat-${i}`);
    await mkdir(b, { recursive: true });
    await writeFile(join(b, 'config.json'), JSON.stringify(config));
    bundles.push(b);
  }
  await yardstick(netns, ['nat-setup', YS_BRIDGE]);

  const yardStops: number[] = [];
  const ourStops: number[] = [];
  const shellStart = async (n: number, round: number, stops: number[]): Promise<number> => {
    const jobs = bundles.slice(0, n).map((b, i) => ({ id: uid('nat-ys'), b, i }));
    const ms = await yardstick(netns, ['nat-start', rawRoot, YS_BRIDGE, ...jobs.map((j) => `${j.id}=${j.b}=${j.i}`)]);
    const stopMs = await yardstick(netns, ['nat-stop', rawRoot, YS_BRIDGE, ...jobs.map((j) => `${j.id}=${j.i}`)]);
    if (round >= 0) stops.push(stopMs);
    return ms;
  };
  const dobbydStart = async (n: number, round: number, stops: number[]): Promise<number> => {
    const ids = Array.from({ length: n }, () => uid('spec'));
    const started = await c.startSpecs(ids.map((id) => [id, spec(id)] as const));
    const stopped = await c.stop(started.descriptors, false);
    if (round >= 0) stops.push(stopped.ms);
    return started.ms;
  };
  const get = (m: Map<string, number[]>, k: string): number[] => m.get(k) ?? [];

  report.section('Dobby spec (nat, console file, 40 MiB memLimit, user ns) start → running, then graceful Stop; one other nat container runs throughout');
  const one = await alternate([
    { name: 'shell', run: (r) => shellStart(1, r, yardStops) },
    { name: 'dobbyd', run: (r) => dobbydStart(1, r, ourStops) },
  ], ROUNDS, WARMUP);
  report.figure('shell: crun run --detach + nat set-up (ip, iptables-restore)', get(one, 'shell'));
  report.figure('dobbyd StartFromSpec → reply', get(one, 'dobbyd'));
  report.ratio('nat + console spec start', get(one, 'dobbyd'), 'its shell yardstick', get(one, 'shell'), 1.2);
  report.figure('shell: crun kill TERM, wait, crun delete, nat teardown', yardStops);
  report.figure('dobbyd Stop → StoppedWithStatus', ourStops);
  report.ratio('graceful Stop of a nat container', ourStops, 'its shell yardstick', yardStops, 1.2);

  report.section(`${MANY} Dobby spec (nat) starts at once → all running`);
  const manyYardStops: number[] = [];
  const manyOurStops: number[] = [];
  const many = await alternate([
    { name: 'shell', run: (r) => shellStart(MANY, r, manyYardStops) },
    { name: 'dobbyd', run: (r) => dobbydStart(MANY, r, manyOurStops) },
  ], MANY_ROUNDS, 1);
  report.figure(`shell yardstick x${MANY} at once`, get(many, 'shell'));
  report.figure(`dobbyd StartFromSpec x${MANY} at once`, get(many, 'dobbyd'));
  report.ratio(`${MANY} nat spec starts`, get(many, 'dobbyd'), `${MANY} shell yardsticks at once`, get(many, 'shell'), 1.5);
  report.figure(`shell stop x${MANY} at once`, manyYardStops);
  report.figure(`dobbyd Stop x${MANY} → StoppedWithStatus`, manyOurStops);
  report.ratio(`${MANY} graceful nat Stops`, manyOurStops, `${MANY} shell stops at once`, manyYardStops);
  await c.stop([resident], false);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
