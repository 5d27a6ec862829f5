// Drives the thin Python D-Bus client (bench/dbus-client.py): one JSON command per line, one JSON
// answer per line. The client times each call itself, so Node's latency is outside every figure.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';

const CLIENT = join(import.meta.dirname, 'dbus-client.py');

export interface StartAnswer {
  readonly ms: number;
  readonly descriptors: number[];
}

export class ThinDbusClient {
  readonly #child: ChildProcess;
  readonly #lines: Interface;
  readonly #waiting: Array<(line: string) => void> = [];

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    this.#lines.on('line', (line) => this.#waiting.shift()?.(line));
  }

  static async connect(address: string): Promise<ThinDbusClient> {
    // Debian's python3 (python3-dbus), not whatever python3 comes first on PATH.
    const child = spawn('/usr/bin/python3', [CLIENT, address], { stdio: ['pipe', 'pipe', 'inherit'] });
    const client = new ThinDbusClient(child);
    const ready = await client.#next();
    if ((ready as { ready?: boolean }).ready !== true) throw new Error(`the D-Bus client did not start: ${JSON.stringify(ready)}`);
    return client;
  }

  #next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error('the D-Bus client exited'));
      this.#child.once('exit', onExit);
      this.#waiting.push((line) => {
        this.#child.off('exit', onExit);
        resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
  }

  async request<T>(command: Record<string, unknown>): Promise<T> {
    const answer = this.#next();
    this.#child.stdin?.write(`${JSON.stringify(command)}\n`);
    const out = await answer;
    if (typeof out['error'] === 'string') throw new Error(`${String(command['op'])}: ${out['error']}`);
    return out as T;
  }

  startBundles(items: ReadonlyArray<readonly [string, string]>): Promise<StartAnswer> {
    return this.request({ op: 'bundle', items });
  }

  startSpecs(items: ReadonlyArray<readonly [string, string]>): Promise<StartAnswer> {
    return this.request({ op: 'spec', items });
  }

  /** Stop each and wait for its StoppedWithStatus (sent once the teardown is done). */
  stop(descriptors: readonly number[], force: boolean): Promise<{ ms: number; statuses: number[] }> {
    return this.request({ op: 'stop', descriptors, force });
  }

  async ociConfig(descriptor: number): Promise<string> {
    return (await this.request<{ config: string }>({ op: 'ociconfig', descriptor })).config;
  }

  cycles(bundle: string, prefix: string, n: number): Promise<{ ms: number }> {
    return this.request({ op: 'cycles', bundle, prefix, n });
  }

  close(): void {
    this.#child.stdin?.end();
    this.#child.kill('SIGTERM');
  }
}
