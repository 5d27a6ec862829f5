// Multicast tests' own network namespace (loopback with a 224.0.0.0/4 route) and running a test file inside it.
//
// Joining a group needs a route for it, and this host's must not be touched (nor its network sent
// IGMP reports), so every multicast socket of these tests lives in a namespace of its own. Node
// cannot setns(2), so the test file runs again inside it under `nsenter --net` (not `ip netns
// exec`, which remounts /sys in a new mount namespace and so hides the cgroup mounts crun needs).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { run } from '../../src/drivers/process.ts';

/** Set in the environment of a test file run inside the namespace: the namespace's name. */
export const NETNS_ENV = 'DOBBY_TEST_MCAST_NETNS';

export interface MulticastNetns {
  readonly name: string;
  readonly path: string;
  /** Deletes the namespace. Idempotent. */
  remove(): Promise<void>;
}

async function ip(args: readonly string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

export async function makeMulticastNetns(): Promise<MulticastNetns> {
  const name = `dtmc-${process.pid}-${randomBytes(3).toString('hex')}`;
  let removed: Promise<void> | null = null;
  const netns: MulticastNetns = {
    name, path: `/run/netns/${name}`,
    remove: () => (removed ??= ip(['netns', 'delete', name]).catch(() => undefined)),
  };
  await ip(['netns', 'add', name]);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    await ip(['-n', name, 'link', 'set', 'lo', 'multicast', 'on']);
    await ip(['-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  } catch (err) {
    await netns.remove();
    throw err;
  }
  return netns;
}

/**
 * The namespace's name when this process runs inside the one named in NETNS_ENV, null when that
 * variable is unset; throws when it is set but this process is elsewhere (traffic would leave).
 */
export function multicastNetnsHere(): string | null {
  const name = process.env[NETNS_ENV];
  if (name === undefined) return null;
  const mine = statSync('/proc/self/ns/net').ino;
  const theirs = statSync(`/run/netns/${name}`).ino;
  if (mine !== theirs) throw new Error(`${NETNS_ENV}=${name}, but this process is not in that network namespace`);
  return name;
}

export interface NetnsRun {
  readonly code: number | null;
  readonly output: string;
  readonly passed: number;
  readonly failed: number;
  /** The inner tests' `ok` / `not ok` lines. */
  readonly results: string[];
}

/**
 * Runs `file`'s tests inside `netns` (TAP reporter) and sums up what they reported. A run past
 * `timeoutMs` gets SIGTERM (its own cleanup may still run), then SIGKILL 10 s later.
 */
export function runTestFileInNetns(netns: MulticastNetns, file: string, timeoutMs = 150_000): Promise<NetnsRun> {
  const env: Record<string, string | undefined> = { ...process.env, [NETNS_ENV]: netns.name };
  delete env['NODE_EXTRA_CA_CERTS']; // makes Node start slowly
  delete env['NODE_TEST_CONTEXT']; // set by an outer `node --test`; the inner run reports on its own
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netns.path}`, '--', process.execPath, '--test-reporter=tap', file], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const term = setTimeout(() => {
      output += `\n[runTestFileInNetns: no end after ${timeoutMs} ms, sending SIGTERM]\n`;
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    }, timeoutMs);
    let kill: NodeJS.Timeout | undefined;
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      const count = (key: string): number => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
      const results = output.split('\n').filter((l) => /^\s*(not )?ok \d+ - /.test(l)).map((l) => l.trim());
      resolve({ code, output, passed: count('pass'), failed: count('fail'), results });
    });
  });
}

/**
 * Registers the outer test of a file whose cases must run inside a namespace of their own: it runs
 * the file again there and passes only when every one of its `cases` passed.
 */
export function testInOwnNetns(name: string, file: string, cases: number, timeoutMs: number, innerTimeoutMs?: number): void {
  test(name, { timeout: timeoutMs }, async (t) => {
    const netns = await makeMulticastNetns();
    try {
      const r = await runTestFileInNetns(netns, file, innerTimeoutMs);
      for (const line of r.results) t.diagnostic(line);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.failed, 0, r.output);
      assert.equal(r.passed, cases, r.output);
    } finally {
      await netns.remove();
    }
  });
}
