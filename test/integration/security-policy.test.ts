// The D-Bus policy, enforced for a real dobbyd on a system-like bus (default deny + etc/dbus-1/system.d/org.rdk.dobby.conf):
// another user (nobody, via setpriv) can call no ctrl1/admin1/debug1 method — with or without an interface, by the
// well-known or the unique name — and nothing it tries reaches the daemon or its container; root still can.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusClient } from '../../src/api/cli/bus-client.ts';
import type { PrivateBus } from '../../src/drivers/dbus/bus-address.ts';
import { ADMIN, CONTRACT, CTRL, DEBUG, OBJECT, splitTypes } from '../helpers/dbus-fuzz.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import type { CallOutcome, RawCall } from '../helpers/raw-dbus.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { startSystemLikeBus } from '../helpers/system-bus.ts';

const scratch = makeScratch();
const RAW_DBUS = join(import.meta.dirname, '..', 'helpers', 'raw-dbus.ts');

/** Sends the calls as user `nobody` (a child process under setpriv) and returns what came back, in order. */
function asNobody(address: string, calls: readonly RawCall[]): Promise<CallOutcome[]> {
  const script = `
    import { RawBus } from ${JSON.stringify(RAW_DBUS)};
    const calls = JSON.parse(process.env.CALLS);
    const bus = await RawBus.connect(process.env.ADDRESS);
    const out = [];
    for (const c of calls) out.push(await bus.call(c, 10000));
    bus.close();
    process.stdout.write(JSON.stringify({ uid: process.getuid(), out }));
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, CALLS: JSON.stringify(calls), ADDRESS: address };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'], env, cwd: '/',
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the nobody client failed (${String(code)}): ${err}`));
      const parsed = JSON.parse(out) as { uid: number; out: CallOutcome[] };
      if (parsed.uid !== 65534) return reject(new Error(`the client ran as uid ${parsed.uid}, not nobody`));
      resolve(parsed.out);
    });
  });
}

/** A well-typed body for a signature (the values do not matter: the bus must stop the call before dobbyd). */
function sampleBody(signature: string, descriptor: number): unknown[] {
  return splitTypes(signature).map((t) => {
    switch (t) {
      case 'i': return descriptor;
      case 'u': return 0;
      case 'b': return true;
      case 's': return 'x';
      case 'ah': case 'as': return [];
      case 'h': return 0;
      default: throw new Error(`no sample for ${t}`);
    }
  });
}

describe('D-Bus policy against a real dobbyd', () => {
  let bus: PrivateBus | undefined;
  let daemon: DobbydProcess | undefined;
  let root: BusClient | undefined;
  let descriptor = 0;
  let uniqueName = '';
  after(async () => {
    root?.close();
    await daemon?.stop();
    await bus?.stop();
  });
  before(async () => {
    bus = await startSystemLikeBus(join(scratch.dir, 'bus'));
    daemon = await startDobbyd(join(scratch.dir, 'state'), [], { dbusAddress: bus.address });
    root = await BusClient.connect(bus.address);
    const id = scratch.id('policy');
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { init: true, args: ['/bin/sleep', '1000'] });
    const started = await root.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'StartFromBundle', signature: 'ssah', body: [id, bundle, []] });
    descriptor = Number(started.body[0]);
    assert.ok(descriptor > 0, 'root may start containers');
    const owner = await root.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: ['org.rdk.dobby'] });
    uniqueName = String(owner.body[0]);
  });

  test('nobody is denied every Dobby method (Shutdown included), with or without interface, by well-known or unique name', async () => {
    const calls: RawCall[] = [];
    for (const iface of [ADMIN, CTRL, DEBUG, 'org.rdk.dobby.stats1']) {
      for (const [member, spec] of Object.entries(CONTRACT[iface] ?? {})) {
        const signature = spec.forms[spec.forms.length - 1]!.replace('uh', 'u');
        const body = sampleBody(signature, descriptor) as RawCall['body'];
        calls.push({ destination: 'org.rdk.dobby', path: OBJECT, interface: iface, member, signature, body });
        calls.push({ destination: 'org.rdk.dobby', path: OBJECT, member, signature, body });
        calls.push({ destination: uniqueName, path: OBJECT, interface: iface, member, signature, body });
      }
    }
    for (const destination of ['org.rdk.dobby', uniqueName]) {
      calls.push({ destination, path: OBJECT, interface: ADMIN, member: 'Shutdown', signature: '', body: [] });
      calls.push({ destination, path: OBJECT, member: 'Shutdown', signature: '', body: [] });
      // An interface Dobby does not have: still denied by the bus (default deny), never UnknownMethod from us.
      calls.push({ destination, path: OBJECT, interface: 'org.rdk.dobby.ctrl2', member: 'Stop', signature: 'ib', body: [descriptor, true] });
    }
    const outcomes = await asNobody(bus!.address, calls);
    const allowed = outcomes.map((o, i) => ({ o, c: calls[i]! })).filter(({ o }) => !(o.kind === 'error' && o.name === 'org.freedesktop.DBus.Error.AccessDenied'));
    assert.deepEqual(allowed.map(({ c, o }) => `${c.destination} ${c.interface ?? '(no interface)'}.${c.member}: ${JSON.stringify(o)}`), []);
    assert.ok(calls.length > 70, `${calls.length} calls tried`);
    // Nothing reached the daemon: it runs, the container runs.
    assert.ok(daemon!.alive());
    const state = await root!.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'GetState', signature: 'i', body: [descriptor] });
    assert.deepEqual(state.body, [2]);
  });

  test('nobody may ping and introspect the daemon (read-only, no container data)', async () => {
    const outcomes = await asNobody(bus!.address, [
      { destination: 'org.rdk.dobby', path: OBJECT, interface: 'org.freedesktop.DBus.Peer', member: 'Ping', signature: '', body: [] },
      { destination: 'org.rdk.dobby', path: OBJECT, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect', signature: '', body: [] },
    ]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['return', 'return']);
  });

  test('nobody cannot become a bus monitor to watch the calls root makes', async () => {
    const [o] = await asNobody(bus!.address, [{
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [[], 0],
    }]);
    assert.equal(o?.kind, 'error');
    assert.match((o as { name: string }).name, /AccessDenied/);
  });

  test('root may still control the container: Stop returns true', async () => {
    const stopped = await root!.call({ destination: 'org.rdk.dobby', path: OBJECT, interface: CTRL, member: 'Stop', signature: 'ib', body: [descriptor, true] });
    assert.deepEqual(stopped.body, [true]);
  });
});
