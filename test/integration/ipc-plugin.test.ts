// The ipc plugin through a real dobbyd: host D-Bus buses (private dbus-daemons of this test, never
// the real system bus) answer a D-Bus client (the host's busctl) inside the container at Dobby's
// paths, from a Dobby-format bundle and from a spec's `dbus` field; bad data and a missing bus.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startPrivateBus, type PrivateBus } from '../../src/drivers/dbus/bus-address.ts';
import { run } from '../../src/drivers/process.ts';
import { dobby } from '../api/harness.ts';
import { appPluginDaemon, warningsAbout } from '../helpers/app-plugins.ts';

const GET_ID = 'call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId';

/** Each bus's id as the container reports it: busctl through the env var Dobby sets, answers in /out. */
const CLIENT_SCRIPT = [
  `busctl --system ${GET_ID} > /out/system 2>&1`,
  `busctl --user ${GET_ID} > /out/session 2>&1`,
  `if [ -n "$DBUS_DEBUG_BUS_ADDRESS" ]; then busctl --address="$DBUS_DEBUG_BUS_ADDRESS" ${GET_ID} > /out/debug 2>&1; fi`,
  'env > /out/env',
  'ls -l /var/run/dbus > /out/ls 2>&1',
  'touch /out/done',
  'exec sleep 1000',
].join('\n');

const busDir = mkdtempSync(join(tmpdir(), 'dobby-ipc-buses-'));
const BUS_NAMES = ['system', 'session', 'debug', 'ai'] as const;
const buses: Record<(typeof BUS_NAMES)[number], PrivateBus | undefined> = { system: undefined, session: undefined, debug: undefined, ai: undefined };
const ids: Record<string, string> = {};

const env = appPluginDaemon({
  async setUp() {
    for (const name of BUS_NAMES) {
      const bus = await startPrivateBus(join(busDir, name));
      buses[name] = bus;
      const r = await run('busctl', [`--address=${bus.address}`, ...GET_ID.split(' ')]);
      assert.equal(r.code, 0, r.stderr);
      ids[name] = r.stdout.trim();
    }
    // The daemon's "system" bus is the one $DBUS_SYSTEM_BUS_ADDRESS names: this test's.
    return { DBUS_SYSTEM_BUS_ADDRESS: buses.system!.address };
  },
  async tearDown() {
    for (const bus of Object.values(buses)) await bus?.stop();
    rmSync(busDir, { recursive: true, force: true });
  },
});

describe('ipc plugin through dobbyd', { concurrency: 1 }, () => {
  test('Dobby bundle: system, session (a socket path) and debug (an address) answer inside at /var/run/dbus/*_bus_socket', async () => {
    const id = env.scratch.id('ipc');
    const data = { system: 'system', session: buses.session!.socketPath, debug: `unix:path=${buses.debug!.socketPath}` };
    const bundle = await env.bundle(id, CLIENT_SCRIPT, { ipc: { required: true, dependsOn: [], data } });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.equal(seen('system').trim(), ids['system'], seen('system'));
    assert.equal(seen('session').trim(), ids['session'], seen('session'));
    assert.equal(seen('debug').trim(), ids['debug'], seen('debug'));
    const vars = seen('env').split('\n');
    for (const bus of ['SYSTEM', 'SESSION', 'DEBUG']) {
      assert.ok(vars.includes(`DBUS_${bus}_BUS_ADDRESS=unix:path=/var/run/dbus/${bus.toLowerCase()}_bus_socket`), seen('env'));
    }
    assert.ok(vars.includes('SKY_DBUS_DISABLE_UID_IN_EXTERNAL_AUTH=1'), seen('env'));
    assert.match(seen('ls'), /^s.* system_bus_socket$/m);

    const ipc = (await env.plugins(id)).find((p) => p.name === 'ipc');
    assert.deepEqual(ipc?.hooks.map((h) => `${h.hook}:${h.mode}:${h.ok}`), ['postConstruction:sync:true']);
    assert.equal(ipc?.required, true);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('StartFromSpec: the spec\'s dbus field makes the plugin; "system" answers in a user namespace, ai-public is skipped with a warning', async () => {
    const id = env.scratch.id('ipc-spec');
    const spec = await env.specFile(id, CLIENT_SCRIPT, { dbus: { system: 'system', session: 'ai-public' } });
    const started = await env.start(id, spec);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.equal(seen('system').trim(), ids['system'], seen('system'));
    assert.doesNotMatch(seen('env'), /DBUS_SESSION_BUS_ADDRESS/);
    assert.match(warningsAbout(env.daemon(), id), /ipc\.data\.session: no ai-public bus is known to this daemon/);
    const ipc = (await env.plugins(id)).find((p) => p.name === 'ipc');
    assert.deepEqual(ipc?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true']);
    assert.equal(ipc?.required, false);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('SetAIDbusAddress (dobby set-dbus) gives later containers that ask for ai-private that bus; an unreachable address is refused', async () => {
    const address = env.daemon().address;
    const refused = await dobby(address, ['set-dbus', 'private', `unix:path=${join(busDir, 'nobody-listens')}`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr + refused.stdout, /failed to set the AI private dbus address/);
    const set = await dobby(address, ['set-dbus', 'private', buses.ai!.address]);
    assert.equal(set.code, 0, set.stderr);

    const id = env.scratch.id('ipc-ai');
    const spec = await env.specFile(id, CLIENT_SCRIPT, { dbus: { session: 'ai-private' } });
    const started = await env.start(id, spec);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.equal(seen('session').trim(), ids['ai'], seen('session'));
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('bad data fails the start, optional or not, naming the field; nothing is left', async () => {
    for (const [label, data] of [['type', { system: 42 }], ['value', { session: 'the-session-bus' }]] as const) {
      const id = env.scratch.id(`ipc-bad-${label}`);
      const bundle = await env.bundle(id, CLIENT_SCRIPT, { ipc: { required: false, data } });
      const started = await env.start(id, bundle);
      assert.notEqual(started.code, 0, started.stdout);
      assert.match(started.stderr + started.stdout, /failed to start container/);
      assert.match(warningsAbout(env.daemon(), id), label === 'type' ? /ipc\.data\.system is 42; it must be a string/ : /ipc\.data\.session is \\?"the-session-bus\\?"/);
      assert.deepEqual(await env.leftovers(id), []);
    }
  });

  test('a bus whose socket is missing: required fails the start, optional logs and runs without it', async () => {
    const missing = join(busDir, 'no-such-bus');
    const requiredId = env.scratch.id('ipc-req');
    const required = await env.bundle(requiredId, CLIENT_SCRIPT, { ipc: { required: true, data: { session: missing } } });
    const failed = await env.start(requiredId, required);
    assert.notEqual(failed.code, 0, failed.stdout);
    assert.match(warningsAbout(env.daemon(), requiredId), /ipc\.data\.session \(host socket\) is \S+no-such-bus, which does not exist/);
    assert.deepEqual(await env.leftovers(requiredId), []);

    const optionalId = env.scratch.id('ipc-opt');
    const optional = await env.bundle(optionalId, CLIENT_SCRIPT, { ipc: { required: false, data: { system: 'system', session: missing } } });
    const started = await env.start(optionalId, optional);
    assert.equal(started.code, 0, started.stderr);
    const seen = await env.seen(optionalId);
    // Checked before anything is added: the failed hook adds no bus at all.
    assert.doesNotMatch(seen('env'), /DBUS_(SYSTEM|SESSION)_BUS_ADDRESS/);
    const ipc = (await env.plugins(optionalId)).find((p) => p.name === 'ipc');
    assert.deepEqual(ipc?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:false']);
    assert.match(ipc?.hooks[0]?.error ?? '', /no-such-bus, which does not exist/);
    await env.stop(optionalId);
    assert.deepEqual(await env.leftovers(optionalId), []);
  });
});
