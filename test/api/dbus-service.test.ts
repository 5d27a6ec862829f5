// The D-Bus surface over an in-test manager, called with busctl and dbus-send: every method and arity, failure values, errors, introspection, fds.
// needs: bus

import assert from 'node:assert/strict';
import { readlinkSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { busctl, call, dbusSend, FakeManager, serve, startWithFd, TAG, testBus, type TestBus } from './harness.ts';

describe('org.rdk.dobby over a private bus', () => {
  let address = '';
  let dir = '';
  let bus: TestBus | undefined;
  after(() => bus?.stop());
  const manager = new FakeManager();
  let shutdowns = 0;
  const seenFds: string[] = [];
  const id = (n: string) => `api-${TAG}-${n}`;

  before(async () => {
    bus = await testBus();
    ({ address, dir } = bus);
    // Reads the first fd a start carries while the call is in progress, as a container would.
    const originalStart = manager.start.bind(manager);
    manager.start = async (request) => {
      const fd = request.fds?.[0];
      if (fd !== undefined) {
        const buf = Buffer.alloc(64);
        const n = readSync(fd, buf, 0, 64, 0);
        seenFds.push(buf.subarray(0, n).toString());
      }
      return originalStart(request);
    };
    await serve({ manager, address, onShutdown: () => shutdowns++ });
    writeFileSync(join(dir, 'config.json'), '{}');
  });

  test('every ctrl1 method in every arity Dobby accepts, called with busctl', async () => {
    assert.equal(await call(address, 'ctrl1', 'StartFromBundle', 'ssah', id('a'), dir, '0'), 'i 734');
    assert.equal(await call(address, 'ctrl1', 'StartFromBundle', 'ssahssas', id('b'), dir, '0', 'sleep 10', '', '1', 'A=1'), 'i 735');
    assert.equal(await call(address, 'ctrl1', 'StartFromBundle', 'ssahssasuu', id('c'), dir, '0', '', '', '0', '1000', '1000'), 'i 736');
    assert.equal(await call(address, 'ctrl1', 'Start', 'ssah', id('d'), dir, '0'), 'i 737');
    assert.equal(await call(address, 'ctrl1', 'Start', 'ssahssas', id('e'), dir, '0', '', '', '0'), 'i 738');
    // Spec containers are not supported yet: Dobby's failure value, not an error.
    assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id('s1'), '{"version":"1.0"}', '0'), 'i -1');
    assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssahssas', id('s2'), '{"version":"1.0"}', '0', '', '', '0'), 'i -1');
    assert.equal(await call(address, 'ctrl1', 'Start', 'ssah', id('s3'), '{"version":"1.0"}', '0'), 'i -1');

    const b = manager.startRequests.find((r) => r.id === id('b')) as unknown as Record<string, unknown>;
    assert.deepEqual([b['command'], b['env']], [['sleep', '10'], ['A=1']]);
    const c = manager.startRequests.find((r) => r.id === id('c')) as unknown as Record<string, unknown>;
    assert.deepEqual([c['userId'], c['groupId']], [1000, 1000]);

    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', '734'), 'i 2');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', '999'), 'i 0');
    assert.equal(await call(address, 'ctrl1', 'Pause', 'i', '734'), 'b true');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', '734'), 'i 4');
    assert.equal(await call(address, 'ctrl1', 'Pause', 'i', '734'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Resume', 'i', '734'), 'b true');
    assert.equal(await call(address, 'ctrl1', 'Resume', 'i', '734'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Annotate', 'iss', '734', 'Key1', 'Value1'), 'b true');
    assert.equal(await call(address, 'ctrl1', 'Annotate', 'iss', '999', 'Key1', 'Value1'), 'b false');
    const info = await call(address, 'ctrl1', 'GetInfo', 'i', '734');
    assert.match(info, /"Key1\\" : \\"Value1\\"/);
    assert.equal(await call(address, 'ctrl1', 'RemoveAnnotation', 'is', '734', 'Key1'), 'b true');
    assert.equal(await call(address, 'ctrl1', 'RemoveAnnotation', 'is', '734', 'Key1'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'GetInfo', 'i', '999'), 's ""');
    assert.equal(await call(address, 'ctrl1', 'Exec', 'iss', '734', '--tty --env X=1', 'echo hello world'), 'b true');
    assert.deepEqual(manager.execRequests.at(-1), { args: ['echo', 'hello', 'world'], env: ['X=1'], tty: true });
    assert.equal(await call(address, 'ctrl1', 'Exec', 'iss', '734', '--bogus', 'echo'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Exec', 'iss', '999', '', 'echo'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Hibernate', 'is', '734', 'dest=/tmp'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Wakeup', 'i', '734'), 'b false');
    // The in-test manager has no processes: Mount and Unmount fail cleanly (real ones: integration tests).
    assert.equal(await call(address, 'ctrl1', 'Mount', 'issass', '734', '/tmp', '/mnt/x', '1', 'bind', ''), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Unmount', 'is', '734', '/mnt/x'), 'b false');

    const list = await call(address, 'ctrl1', 'List');
    assert.equal(list, `aias 5 734 735 736 737 738 5 "${id('a')}" "${id('b')}" "${id('c')}" "${id('d')}" "${id('e')}"`);
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', '734', 'false'), 'b true');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', '999', 'true'), 'b false');
  });

  test('admin1 and debug1 methods, called with busctl', async () => {
    assert.equal(await call(address, 'admin1', 'Ping'), '');
    assert.equal(await call(address, 'admin1', 'SetLogLevel', 'i', '4'), 'b true');
    assert.equal(await call(address, 'admin1', 'SetLogMethod', 'uu', '3', '0'), 'b true');
    assert.equal(await call(address, 'admin1', 'SetLogMethod', 'u', '1'), 'b false');
    assert.equal(await call(address, 'admin1', 'SetAIDbusAddress', 'bs', 'true', address), 'b true');
    assert.equal(await call(address, 'admin1', 'SetAIDbusAddress', 'bs', 'false', 'unix:path=/nonexistent/socket'), 'b false');
    assert.equal(await call(address, 'debug1', 'CreateBundle', 'ss', id('x'), '{}'), 'b false');
    assert.equal(await call(address, 'debug1', 'GetSpec', 'i', '735'), 's ""');
    assert.equal(await call(address, 'debug1', 'GetOCIConfig', 'i', '735'), 's "{}"');
    assert.equal(await call(address, 'debug1', 'GetOCIConfig', 'i', '999'), 's ""');
  });

  test('dbus-send, another client this project did not write', async () => {
    const r = await dbusSend(address, ['org.rdk.dobby.ctrl1.GetState', 'int32:735']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\s+int32 2$/m);
    const list = await dbusSend(address, ['org.rdk.dobby.ctrl1.List']);
    assert.match(list.stdout, /array \[\s+int32 735\s+int32 736/);
    const annotate = await dbusSend(address, ['org.rdk.dobby.ctrl1.Annotate', 'int32:735', 'string:k', 'string:v']);
    assert.match(annotate.stdout, /boolean true/);
    const level = await dbusSend(address, ['org.rdk.dobby.admin1.SetLogLevel', 'int32:5']);
    assert.match(level.stdout, /boolean true/);
    const unknown = await dbusSend(address, ['org.rdk.dobby.ctrl1.Frobnicate', 'int32:1']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /org\.freedesktop\.DBus\.Error\.UnknownMethod: No handler for method org\.rdk\.dobby\.ctrl1\.Frobnicate/);
  });

  test("wrong types and arities get Dobby's failure values, never D-Bus errors, and the daemon keeps serving", async () => {
    const cases: [string, string, string, string[], string][] = [
      ['ctrl1', 'GetState', 'u', ['735'], 'i -1'],
      ['ctrl1', 'GetState', '', [], 'i -1'],
      ['ctrl1', 'GetState', 'ii', ['735', '1'], 'i -1'],
      ['ctrl1', 'GetInfo', 's', ['735'], 's ""'],
      ['ctrl1', 'Stop', 'i', ['735'], 'b false'],
      ['ctrl1', 'Stop', 'iu', ['735', '1'], 'b false'],
      ['ctrl1', 'Pause', 'x', ['735'], 'b false'],
      ['ctrl1', 'StartFromBundle', 'ss', ['x', '/tmp'], 'i -1'],
      ['ctrl1', 'StartFromBundle', 'ssahs', ['x', '/tmp', '0', 'c'], 'i -1'],
      ['ctrl1', 'StartFromBundle', 'ssahssasu', ['x', '/tmp', '0', '', '', '0', '1'], 'i -1'],
      ['ctrl1', 'StartFromSpec', 'ssahssasuu', ['x', '{}', '0', '', '', '0', '0', '0'], 'i -1'],
      ['ctrl1', 'Mount', 'issas', ['735', '/a', '/b', '0'], 'b false'],
      ['ctrl1', 'Exec', 'is', ['735', 'echo'], 'b false'],
      ['ctrl1', 'Annotate', 'is', ['735', 'k'], 'b false'],
      ['ctrl1', 'Hibernate', 'i', ['735'], 'b false'],
      ['admin1', 'SetLogLevel', 'u', ['1'], 'b false'],
      ['admin1', 'SetAIDbusAddress', 's', ['x'], 'b false'],
      ['debug1', 'GetSpec', 's', ['x'], 's ""'],
      ['debug1', 'CreateBundle', 's', ['x'], 'b false'],
    ];
    for (const [iface, member, sig, args, expected] of cases) {
      assert.equal(await call(address, iface, member, sig, ...args), expected, `${member}(${sig})`);
    }
    // List, Ping and Shutdown never look at their arguments (as in Dobby).
    assert.match(await call(address, 'ctrl1', 'List', 'i', '5'), /^aias \d+ /);
    assert.equal(await call(address, 'admin1', 'Ping', 's', 'x'), '');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', '735'), 'i 2');
  });

  test('unknown members, interfaces and paths: UnknownMethod "No handler for method <iface>.<member>"', async () => {
    const cases: [string, string, string][] = [
      ['/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'Nope'],
      ['/org/rdk/dobby', 'org.rdk.dobby.ctrl2', 'GetState'],
      ['/org/rdk/other', 'org.rdk.dobby.ctrl1', 'GetState'],
    ];
    for (const [path, iface, member] of cases) {
      const r = await busctl(address, ['call', 'org.rdk.dobby', path, iface, member]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`No handler for method ${iface.replaceAll('.', '\\.')}\\.${member}`));
    }
    const peer = await busctl(address, ['call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.freedesktop.DBus.Peer', 'Ping']);
    assert.equal(peer.code, 0, peer.stderr);
  });

  test('busctl introspect lists every method with its signature', async () => {
    const r = await busctl(address, ['introspect', 'org.rdk.dobby', '/org/rdk/dobby']);
    assert.equal(r.code, 0, r.stderr);
    const expected: [string, string, string][] = [
      ['.StartFromBundle', 'ssahssasuu', 'i'], ['.StartFromSpec', 'ssahssas', 'i'], ['.Start', 'ssahssas', 'i'], ['.Stop', 'ib', 'b'],
      ['.Pause', 'i', 'b'], ['.Resume', 'i', 'b'], ['.Hibernate', 'is', 'b'], ['.Wakeup', 'i', 'b'], ['.Mount', 'issass', 'b'],
      ['.Unmount', 'is', 'b'], ['.Annotate', 'iss', 'b'], ['.RemoveAnnotation', 'is', 'b'], ['.Exec', 'iss', 'b'],
      ['.GetState', 'i', 'i'], ['.GetInfo', 'i', 's'], ['.List', '-', 'aias'], ['.SetLogLevel', 'i', 'b'], ['.SetLogMethod', 'uh', 'b'],
      ['.SetAIDbusAddress', 'bs', 'b'], ['.CreateBundle', 'ss', 'b'], ['.GetSpec', 'i', 's'], ['.GetOCIConfig', 'i', 's'],
      ['.Ping', '-', '-'], ['.Shutdown', '-', '-'],
    ];
    for (const [name, sig, out] of expected) {
      assert.match(r.stdout, new RegExp(`^\\${name}\\s+method\\s+${sig}\\s+${out.replace('-', '\\-')}\\s`, 'm'), name);
    }
    for (const [name, sig] of [['.Started', 'is'], ['.StoppedWithStatus', 'isi'], ['.Stopped', 'is'], ['.Ready', '-'], ['.Event', 'isstiiibss']]) {
      assert.match(r.stdout, new RegExp(`^\\${name}\\s+signal\\s+${sig}\\s`, 'm'), name!);
    }
    const tree = await busctl(address, ['tree', 'org.rdk.dobby']);
    assert.match(tree.stdout, /\/org\/rdk\/dobby/);
  });

  test('an fd passed to StartFromBundle (python3-dbus) reaches the manager readable, and the daemon closes its copy after the call', async () => {
    const file = join(dir, 'payload.txt');
    writeFileSync(file, 'through-dbus');
    const cd = await startWithFd(address, id('fd'), dir, file);
    assert.ok(cd > 0);
    assert.deepEqual(seenFds, ['through-dbus']);
    const passed = manager.startRequests.find((r) => r.id === id('fd'))?.fds?.[0];
    assert.ok(passed !== undefined);
    await sleep(50);
    let target: string | null = null;
    try {
      target = readlinkSync(`/proc/self/fd/${passed}`);
    } catch {
      target = null;
    }
    assert.notEqual(target, file, 'the received fd must be closed once the start call has finished');
  });

  test('Shutdown replies first, then asks the daemon to shut down', async () => {
    assert.equal(shutdowns, 0);
    assert.equal(await call(address, 'admin1', 'Shutdown'), '');
    await sleep(20);
    assert.equal(shutdowns, 1);
  });
});

describe('losing the bus', () => {
  test('the daemon is told once when its bus goes away', async () => {
    const bus = await testBus();
    try {
      let lost = 0;
      await serve({ manager: new FakeManager(), address: bus.address, onBusLost: () => lost++ });
      process.kill(bus.bus.pid, 'SIGTERM');
      for (let i = 0; i < 200 && lost === 0; i++) await sleep(10);
      assert.equal(lost, 1);
    } finally {
      await bus.stop();
    }
  });
});
