// Duplicates file descriptors (dup(2)) for a container that is restarted with the fds of its first start.

import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DobbyError } from '../../errors.ts';

/** The parts of usocket used here (it has no typings). */
interface USocketModule {
  UServer: new () => {
    listen(path: string, cb: () => void): void;
    on(event: 'connection', fn: (socket: USocketLike) => void): void;
    on(event: 'error', fn: (err: unknown) => void): void;
    close(): void;
  };
  USocket: new () => USocketLike;
}
interface USocketLike {
  connect(path: string, cb?: () => void): void;
  write(chunk: { data: Buffer; fds: number[] }, cb?: (err?: unknown) => void): void;
  on(event: 'fds', fn: (fds: number[]) => void): void;
  on(event: 'error', fn: (err: unknown) => void): void;
  on(event: 'data', fn: (data: Buffer) => void): void;
  destroy(): void;
}

/** Makes copies that stay open after the caller closes the originals; the copies are the caller's to close. */
export interface FdDuplicator {
  duplicate(fds: readonly number[]): Promise<number[]>;
  close(fds: readonly number[]): void;
}

/**
 * Node has no dup(2). Sending the fds over a unix socket to ourselves (SCM_RIGHTS, through usocket,
 * which dbus-next already needs) makes the kernel install copies, whatever the fd is: file, pipe,
 * socket or tty.
 */
export function createFdDuplicator(options: { timeoutMs?: number } = {}): FdDuplicator {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return {
    async duplicate(fds) {
      if (fds.length === 0) return [];
      const usocket = createRequire(import.meta.url)('usocket') as USocketModule;
      const dir = await mkdtemp(join(tmpdir(), 'dobby-dup-'));
      const server = new usocket.UServer();
      let client: USocketLike | null = null;
      let peer: USocketLike | null = null;
      const received: number[] = [];
      try {
        return await new Promise<number[]>((resolve, reject) => {
          const timer = setTimeout(() => reject(new DobbyError('INTERNAL', `duplicating fds ${JSON.stringify(fds)} timed out`)), timeoutMs);
          const fail = (err: unknown): void => {
            clearTimeout(timer);
            reject(new DobbyError('INVALID_ARGUMENT', `could not duplicate fds ${JSON.stringify(fds)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
          };
          server.on('error', fail);
          server.on('connection', (socket) => {
            peer = socket;
            socket.on('error', fail);
            socket.on('data', () => {});
            socket.on('fds', (got) => {
              received.push(...got);
              if (received.length >= fds.length) {
                clearTimeout(timer);
                resolve(received.splice(0));
              }
            });
          });
          server.listen(join(dir, 'dup.sock'), () => {
            const c = new usocket.USocket();
            client = c;
            c.on('error', fail);
            c.connect(join(dir, 'dup.sock'), () => {
              c.write({ data: Buffer.from([fds.length & 0xff]), fds: [...fds] }, (err) => {
                if (err !== undefined && err !== null) fail(err);
              });
            });
          });
        });
      } catch (err) {
        for (const fd of received) closeQuietly(fd);
        throw err;
      } finally {
        (client as USocketLike | null)?.destroy();
        (peer as USocketLike | null)?.destroy();
        server.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
    close(fds) {
      for (const fd of fds) closeQuietly(fd);
    },
  };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing is leaked.
  }
}
