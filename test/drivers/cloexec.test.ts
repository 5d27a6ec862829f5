// The daemon's own fds stay out of the processes it starts, even the ones usocket makes without FD_CLOEXEC.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cloexecAddonPath } from '../../src/drivers/cloexec.ts';
import { run } from '../../src/drivers/process.ts';

interface USocketLike {
  readonly fd: number;
  destroy(): void;
  once(event: 'connected' | 'error', listener: (arg?: unknown) => void): void;
}

test('the addon is found from the sources and from the daemon bundle dir', () => {
  const path = cloexecAddonPath();
  assert.ok(path?.endsWith('native/cloexec/build/Release/cloexec.node'), String(path));
  assert.equal(cloexecAddonPath(join(import.meta.dirname, '..', '..', 'dist')), path);
});

test("a usocket connection (no FD_CLOEXEC) is not inherited by a spawned tool", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dobby-cloexec-'));
  const path = join(dir, 'sock');
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const { USocket } = createRequire(import.meta.url)('usocket') as { USocket: new (o: { path: string }) => USocketLike };
  const socket = new USocket({ path });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connected', () => resolve());
      socket.once('error', (err) => reject(err as Error));
    });
    assert.ok(socket.fd > 2);
    // The child lists its own fds: the socket's number must not be among them.
    const r = await run('/bin/sh', ['-c', 'ls /proc/self/fd']);
    const inherited = r.stdout.split(/\s+/).filter((n) => n !== '').map(Number);
    assert.ok(!inherited.includes(socket.fd), `fd ${socket.fd} leaked into the child: ${inherited.join(' ')}`);
  } finally {
    socket.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
