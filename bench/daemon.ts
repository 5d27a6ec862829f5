// The dobbyd under test: bin/dobbyd on a private bus of its own, inside the bench's network
// namespace (nsenter --net only: the mounts, cgroups and the bus socket stay the host's).

import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { cleanEnv } from './rss.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface BenchDaemon {
  /** The daemon's own pid (nsenter and bin/dobbyd exec, so it is the node process). */
  readonly pid: number;
  readonly address: string;
  stop(): Promise<void>;
}

export async function startBenchDaemon(netns: string, stateDir: string): Promise<BenchDaemon> {
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', join(ROOT, 'bin', 'dobbyd'), '--private-bus', '--state-dir', stateDir, '--log-level', process.env['BENCH_LOG_LEVEL'] ?? 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: cleanEnv(),
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error('dobbyd did not print DBUS_ADDRESS within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`dobbyd exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('DBUS_ADDRESS=')) {
        clearTimeout(timer);
        resolveAddress(line.slice('DBUS_ADDRESS='.length));
      }
    });
  });
  return {
    pid: child.pid as number,
    address,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
