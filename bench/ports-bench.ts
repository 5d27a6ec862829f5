// Port forwarding throughput: TCP through the nat and builtin drivers against a direct connection, in test namespaces, alternated.
//
// A client in its own namespace sends BENCH_PORT_MB MiB to a sink in a "container" namespace,
// which answers with the byte count once the client half-closes; the client times connect → answer.
//   direct:  client → container address            (routed by the test host namespace)
//   nat:     client → host address:port → DNAT     (kernel only)
//   builtin: client → host address:port → this process's proxy → container loopback (via the netns helper)
// Run alone with `node bench/ports-bench.ts`, or as part of `npm run bench`.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { run } from '../src/drivers/process.ts';
import { createPorts } from '../src/drivers/ports/index.ts';
import { ADDR, makeTopology } from '../test/drivers/ports/netns-fixture.ts';
import { alternate, fmtRatio, pairRatios, summarise, type Summary } from './stats.ts';

const SINK = `
import net from 'node:net';
const [host, port] = process.argv.slice(1);
net.createServer({ allowHalfOpen: true }, (c) => {
  let n = 0;
  c.on('data', (d) => (n += d.length));
  c.on('end', () => c.end(String(n)));
  c.on('error', () => {});
}).listen({ host, port: Number(port) }, () => console.log('ready'));
`;

const CLIENT = `
import net from 'node:net';
const [host, port, mib] = process.argv.slice(1);
const chunk = Buffer.alloc(1 << 20, 120);
let left = Number(mib);
const t0 = performance.now();
const c = net.connect({ host, port: Number(port), allowHalfOpen: true });
const pump = () => {
  while (left > 0) {
    left--;
    if (!c.write(chunk)) return void c.once('drain', pump);
  }
  c.end();
};
c.on('connect', pump);
let answer = '';
c.on('data', (d) => (answer += d));
c.on('end', () => {
  const ms = performance.now() - t0;
  if (Number(answer) !== Number(mib) * (1 << 20)) { console.error('short: ' + answer); process.exit(2); }
  console.log(ms.toFixed(3));
});
c.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

export interface PortsBenchOptions {
  readonly rounds: number;
  readonly warmup: number;
  readonly mib: number;
  /** Rounds stop once this much time has gone (the figures say how many ran). */
  readonly budgetMs: number;
}

function fmtRate(s: Summary, mib: number): string {
  const rate = (ms: number): string => `${((mib * 8 * 1.048576) / ms).toFixed(2)} Gbit/s`;
  return `${rate(s.median)} median (${rate(s.max)}–${rate(s.min)}, n=${s.n}; ${mib} MiB in ${s.median.toFixed(1)} ms)`;
}

export async function benchPorts(options: PortsBenchOptions): Promise<void> {
  const topo = await makeTopology();
  const node = process.execPath;
  const sinks = [
    spawn('ip', ['netns', 'exec', topo.ctr, node, '--input-type=module', '-e', SINK, ADDR.ctr4, '7001'], { stdio: ['ignore', 'pipe', 'inherit'] }),
    spawn('ip', ['netns', 'exec', topo.ctr, node, '--input-type=module', '-e', SINK, '127.0.0.1', '7002'], { stdio: ['ignore', 'pipe', 'inherit'] }),
  ];
  const ports = createPorts({ hostNetns: topo.host, resolveTarget: () => ({ containerId: 'bench', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: null }) });
  try {
    for (const s of sinks) await once(s.stdout!, 'data');
    await ports.addPort({ proto: 'tcp4', parentPort: 8301, childPort: 7001, containerId: 'bench', driver: 'nat' });
    await ports.addPort({ proto: 'tcp4', parentPort: 8302, childPort: 7002, containerId: 'bench', driver: 'builtin' });
    const started = Date.now();
    const send = async (host: string, port: number): Promise<number> => {
      const r = await run('ip', ['netns', 'exec', topo.client, node, '--input-type=module', '-e', CLIENT, host, String(port), String(options.mib)], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`bench client → ${host}:${port} failed: ${r.stderr.trim()}`);
      return Number(r.stdout.trim());
    };
    let rounds = 0;
    const samples = await alternate(
      [
        { name: 'direct', run: () => send(ADDR.ctr4, 7001) },
        { name: 'nat', run: () => send(ADDR.hostX4, 8301) },
        { name: 'builtin', run: () => send(ADDR.hostX4, 8302) },
      ].map((v) => ({
        ...v,
        run: async (round: number) => {
          if (round >= 0 && v.name === 'direct') rounds++;
          return Date.now() - started > options.budgetMs ? Number.NaN : v.run();
        },
      })),
      options.rounds,
      options.warmup,
    );
    const clean = (name: string): number[] => (samples.get(name) ?? []).filter((x) => !Number.isNaN(x));
    const direct = clean('direct');
    const nat = clean('nat');
    const builtin = clean('builtin');
    const n = Math.min(direct.length, nat.length, builtin.length);
    console.log(`TCP throughput through a forwarded port (${options.mib} MiB per connection, ${n} of ${rounds} rounds within ${Math.round(options.budgetMs / 1000)} s)`);
    console.log(`  direct (client → container)        ${fmtRate(summarise(direct.slice(0, n)), options.mib)}`);
    console.log(`  nat driver (DNAT)                  ${fmtRate(summarise(nat.slice(0, n)), options.mib)}`);
    console.log(`  builtin driver (userland proxy)    ${fmtRate(summarise(builtin.slice(0, n)), options.mib)}`);
    // Time ratios inverted: throughput of the driver relative to direct (1.00 = as fast).
    const inv = (s: Summary): Summary => ({ median: 1 / s.median, min: 1 / s.max, max: 1 / s.min, n: s.n });
    console.log(`  throughput nat/direct, per pair     ${fmtRatio(inv(pairRatios(nat.slice(0, n), direct.slice(0, n))))}`);
    console.log(`  throughput builtin/direct, per pair ${fmtRatio(inv(pairRatios(builtin.slice(0, n), direct.slice(0, n))))}\n`);
  } finally {
    await ports.close();
    for (const s of sinks) {
      s.kill('SIGKILL');
      if (s.exitCode === null && s.signalCode === null) await once(s, 'exit');
    }
    await topo.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.env['NODE_EXTRA_CA_CERTS'] !== undefined) throw new Error('run with NODE_EXTRA_CA_CERTS unset');
  const rounds = Math.max(5, Math.round(Number(process.env['BENCH_ROUNDS'] ?? 30) / 3));
  benchPorts({ rounds, warmup: 1, mib: Number(process.env['BENCH_PORT_MB'] ?? 128), budgetMs: 90_000 }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
