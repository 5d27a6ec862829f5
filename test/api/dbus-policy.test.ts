// The system bus policy file, loaded by a private dbus-daemon with the system bus's default-deny policy: who may own, call and listen.
// needs: root bus

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDbusService, type DbusService } from '../../src/api/dbus/service.ts';
import { run } from '../../src/drivers/process.ts';
import { silentLogger } from '../../src/log.ts';
import { startPrivateBus, type PrivateBus } from '../../src/drivers/dbus/bus-address.ts';
import { FakeManager, hostServices } from './harness.ts';
import { systemLikeConfig } from '../helpers/system-bus.ts';

describe('etc/dbus-1/system.d/org.rdk.dobby.conf', () => {
  let dir = '';
  let bus: PrivateBus | undefined;
  let service: DbusService | undefined;
  after(async () => {
    await service?.close();
    await bus?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dobby-policy-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'config.json'), '{}');
    // startPrivateBus writes its own permissive config; this test swaps in the system-like one.
    bus = await startPrivateBus(join(dir, 'bus'), { configFor: (socket) => systemLikeConfig(socket) });
    chmodSync(join(dir, 'bus'), 0o755);
    service = await startDbusService({ manager: new FakeManager(), address: bus.address, logger: silentLogger(), onShutdown: () => {}, ...hostServices() });
  });

  const as = (user: string, args: readonly string[]) =>
    run('setpriv', [`--reuid=${user}`, `--regid=${user === 'root' ? 'root' : 'nogroup'}`, '--clear-groups', 'busctl', `--address=${bus!.address}`, '--', ...args], { timeoutMs: 15_000 });

  test('root owns org.rdk.dobby (the service started) and may call ctrl1', async () => {
    const r = await as('root', ['call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'List']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('another user may not call ctrl1, admin1 or debug1', async () => {
    for (const [iface, member, sig, ...args] of [
      ['org.rdk.dobby.ctrl1', 'List', ''], ['org.rdk.dobby.admin1', 'Shutdown', ''], ['org.rdk.dobby.debug1', 'GetSpec', 'i', '1'],
    ] as const) {
      const r = await as('nobody', ['call', 'org.rdk.dobby', '/org/rdk/dobby', iface, member, ...(sig === '' ? [] : [sig, ...args])]);
      assert.notEqual(r.code, 0, `${member} was allowed`);
      assert.match(r.stderr, /denied|AccessDenied/i);
    }
  });

  test('another user receives the daemon signals', async () => {
    const { spawn } = await import('node:child_process');
    const monitor = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'dbus-monitor', '--address', bus!.address, "type='signal',interface='org.rdk.dobby.ctrl1'"], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    monitor.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const started = await as('root', ['call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'StartFromBundle', 'ssah', 'policy-probe', dir, '0']);
      assert.match(started.stdout, /^i \d+/, started.stderr);
      for (let i = 0; i < 100 && !out.includes('member=Started'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, /member=Started/);
    } finally {
      monitor.kill('SIGTERM');
    }
  });

  test('another user may introspect and ping, and own org.rdk.dobby.test.* but not org.rdk.dobby', async () => {
    assert.equal((await as('nobody', ['introspect', 'org.rdk.dobby', '/org/rdk/dobby'])).code, 0);
    assert.equal((await as('nobody', ['call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.freedesktop.DBus.Peer', 'Ping'])).code, 0);
    const test = await as('nobody', ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'RequestName', 'su', 'org.rdk.dobby.test.pid42', '4']);
    assert.equal(test.stdout.trim(), 'u 1', test.stderr);
    const own = await as('nobody', ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'RequestName', 'su', 'org.rdk.dobby', '4']);
    assert.notEqual(own.code, 0);
    assert.match(own.stderr, /not allowed to own|denied/i);
  });
});
