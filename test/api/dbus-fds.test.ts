// Unix fds under load: many clients starting containers with fds at once each get their own fds through, and the daemon keeps serving.
// needs: bus

import assert from 'node:assert/strict';
import { readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/drivers/process.ts';
import { call, FakeManager, serve, TAG, testBus, type TestBus } from './harness.ts';

// Each client passes two fds of its own file (the content names the client), then makes a call without fds.
const CLIENT = `
import sys, dbus
address, tag, bundle, path, count = sys.argv[1:6]
bus = dbus.bus.BusConnection(address)
obj = bus.get_object('org.rdk.dobby', '/org/rdk/dobby', introspect=False)
for i in range(int(count)):
    with open(path, 'rb') as a, open(path, 'rb') as b:
        cd = obj.StartFromBundle('%s-%d' % (tag, i), bundle, dbus.Array([dbus.types.UnixFd(a.fileno()), dbus.types.UnixFd(b.fileno())], signature='h'),
                                 '', '', dbus.Array([], signature='s'), dbus.UInt32(0), dbus.UInt32(0), dbus_interface='org.rdk.dobby.ctrl1', timeout=20)
        assert int(cd) > 0
    # A call without fds between two with fds: the one that used to take the next call's fds.
    assert int(obj.GetState(dbus.Int32(cd), dbus_interface='org.rdk.dobby.ctrl1', timeout=20)) == 2
print('ok')
`;

describe('fd passing under load', () => {
  let bus: TestBus | undefined;
  const manager = new FakeManager();
  const mismatches: string[] = [];
  let seen = 0;
  after(() => bus?.stop());
  before(async () => {
    bus = await testBus();
    writeFileSync(join(bus.dir, 'config.json'), '{}');
    const start = manager.start.bind(manager);
    manager.start = (request) => {
      const owner = request.id.replace(/-\d+$/, '');
      for (const fd of request.fds ?? []) {
        const buf = Buffer.alloc(64);
        const text = buf.subarray(0, readSync(fd, buf, 0, 64, 0)).toString();
        if (text !== owner) mismatches.push(`${request.id} got an fd of ${text}`);
      }
      if ((request.fds ?? []).length !== 2) mismatches.push(`${request.id} got ${(request.fds ?? []).length} fds`);
      seen++;
      return start(request);
    };
    await serve({ manager, address: bus.address });
  });

  test('12 python3-dbus clients x 20 starts with 2 fds each, all at once', async (t) => {
    const probe = await run('/usr/bin/python3', ['-c', 'import dbus'], { timeoutMs: 10_000 }).catch(() => null);
    if (probe?.code !== 0) {
      t.skip('python3-dbus is not installed (apt-get install python3-dbus)');
      return;
    }
    const clients = Array.from({ length: 12 }, (_, i) => `fds-${TAG}-c${i}`);
    const results = await Promise.all(clients.map((tag) => {
      const file = join(bus!.dir, `${tag}.txt`);
      writeFileSync(file, tag);
      return run('/usr/bin/python3', ['-c', CLIENT, bus!.address, tag, bus!.dir, file, '20'], { timeoutMs: 90_000 });
    }));
    for (const r of results) assert.equal(r.stdout.trim(), 'ok', r.stderr);
    assert.equal(seen, 240);
    assert.deepEqual(mismatches, []);
    assert.equal(await call(bus!.address, 'admin1', 'Ping'), '', 'still serving');
  });
});
