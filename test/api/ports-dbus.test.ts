// org.rdk.dobby.ports1 and `dobby port add|ls|rm` against a service on a private bus, forwarding into test namespaces.
// needs: root bus netns

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPortActor, type PortActor } from '../../src/actors/port-actor.ts';
import { createPorts } from '../../src/drivers/ports/index.ts';
import { silentLogger } from '../../src/log.ts';
import { ADDR, ask, echoServer, makeTopology, snapshot, type EchoServer, type Topology } from '../drivers/ports/netns-fixture.ts';
import { busctl, call, dobby, FakeManager, serve, TAG, testBus, type TestBus } from './harness.ts';

let bus: TestBus;
let topo: Topology;
let manager: FakeManager;
let ports: PortActor;
let clean: string;
const servers: EchoServer[] = [];
const web = `web-${TAG}`;
let cd: number;

const target = (id: string) =>
  manager.findById(id) === undefined ? undefined : { containerId: id, netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6 };

/** busctl's `is 3 "{\"id\":3,…}"` → [3, parsed detail]. */
function parseAdd(out: string): [number, Record<string, unknown> | string] {
  const m = /^is (-?\d+) (".*")$/.exec(out);
  assert.ok(m !== null, out);
  const detail = JSON.parse(m[2]!) as string;
  return [Number(m[1]), detail === '' ? '' : (JSON.parse(detail) as Record<string, unknown>)];
}

describe('ports1 over D-Bus and the dobby port commands', { timeout: 180_000 }, () => {
  before(async () => {
    bus = await testBus();
    topo = await makeTopology();
    servers.push(await echoServer(topo.ctr, 'tcp', ADDR.ctr4, 7001));
    servers.push(await echoServer(topo.ctr, 'tcp', '127.0.0.1', 7101));
    manager = new FakeManager();
    ports = createPortActor({
      ports: createPorts({ resolveTarget: target, hostNetns: topo.host }),
      containerEvents$: manager.events$,
      logger: silentLogger(),
    });
    await serve({ manager, address: bus.address, ports });
    cd = await manager.start({ id: web, bundle: '/bundles/web' });
    clean = await snapshot(topo.host);
  });

  after(async () => {
    let left: string | undefined;
    try {
      await ports?.close();
      for (const s of servers) await s.stop();
      if (topo !== undefined) left = await snapshot(topo.host);
    } finally {
      await topo?.destroy();
      await bus?.stop();
    }
    assert.equal(left, clean, 'the host namespace is as it was');
  });

  it('AddPort, ListPorts and RemovePort with busctl; traffic flows while the port exists', async () => {
    const [id, detail] = parseAdd(await call(bus.address, 'ports1', 'AddPort', 'is', String(cd), JSON.stringify({ proto: 'tcp4', parentPort: 8201, childPort: 7001 })));
    assert.ok(id >= 1);
    assert.deepEqual(detail, { id, containerId: web, driver: 'nat', spec: { proto: 'tcp4', parentIP: '', parentPort: 8201, childIP: '', childPort: 7001 } });
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8201, 'bus'), `${ADDR.client4}|bus`);
    const listed = await call(bus.address, 'ports1', 'ListPorts');
    assert.match(listed, /^s "\[\{\\"id\\":\d+,\\"containerId\\":\\"web-/);
    assert.equal(await call(bus.address, 'ports1', 'RemovePort', 'i', String(id)), 'bs true ""');
    assert.equal(await call(bus.address, 'ports1', 'ListPorts'), 's "[]"');
    assert.equal(await snapshot(topo.host), clean);
  });

  it('answers bad input with failure values and a message, and applies nothing', async () => {
    const bad = async (descriptor: number, spec: string, reason: string, pattern: RegExp): Promise<void> => {
      const [id, detail] = parseAdd(await call(bus.address, 'ports1', 'AddPort', 'is', String(descriptor), spec));
      assert.equal(id, -1);
      assert.equal(typeof detail, 'object', String(detail));
      const d = detail as { reason: string; message: string };
      assert.equal(d.reason, reason, d.message);
      assert.match(d.message, pattern);
    };
    await bad(cd, JSON.stringify({ proto: 'tcp', parentPort: 0, childPort: 7001 }), 'invalid-port', /parentPort 0 is not a port/);
    await bad(cd, JSON.stringify({ proto: 'tcp', parentPort: 65536, childPort: 7001 }), 'invalid-port', /parentPort 65536/);
    await bad(cd, JSON.stringify({ proto: 'quic', parentPort: 8202, childPort: 7001 }), 'invalid-proto', /unknown proto "quic"/);
    await bad(cd, JSON.stringify({ proto: 'tcp', parentIP: 'nope', parentPort: 8202, childPort: 7001 }), 'invalid-parent-ip', /parentIP "nope" does not parse/);
    await bad(cd, JSON.stringify({ proto: 'tcp6', childIP: '10.1.1.1', parentPort: 8202, childPort: 7001 }), 'family-mismatch', /childIP 10\.1\.1\.1 is IPv4/);
    await bad(cd, '{"proto": "tcp",', 'invalid-spec', /not JSON/);
    await bad(cd, JSON.stringify({ proto: 'tcp', parentPort: 8202, childPort: 7001, containerId: 'other' }), 'invalid-spec', /leave containerId out/);
    await bad(9999, JSON.stringify({ proto: 'tcp', parentPort: 8202, childPort: 7001 }), 'unknown-container', /no container has descriptor 9999/);
    // The wrong signature: Dobby's failure values, never a D-Bus error.
    assert.equal(await call(bus.address, 'ports1', 'AddPort', 'ss', 'x', 'y'), 'is -1 ""');
    assert.equal(await call(bus.address, 'ports1', 'RemovePort', 'u', '1'), 'bs false ""');
    const unknown = await call(bus.address, 'ports1', 'RemovePort', 'i', '4242');
    assert.match(unknown, /^bs false ".*unknown id: 4242/);
    assert.equal(await snapshot(topo.host), clean);
  });

  it('dobby port add / ls / rm, text and --json, a duplicate and a normalisation-only conflict refused', async () => {
    const added = await dobby(bus.address, ['port', 'add', web, '8203:7001/tcp']);
    assert.equal(added.code, 0, added.stdout + added.stderr);
    const m = /^port (\d+): tcp \*:8203 -> web-\w+:7001 \(nat\)\n$/.exec(added.stdout);
    assert.ok(m !== null, added.stdout);
    const id = Number(m[1]);
    const proxied = await dobby(bus.address, ['port', 'add', '--driver', 'builtin', web, '127.0.0.1:8204:7101/tcp4']);
    assert.equal(proxied.code, 0, proxied.stdout);
    assert.match(proxied.stdout, /\(builtin\)/);
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8203, 'cli'), `${ADDR.client4}|cli`);
    assert.equal(await ask(topo.host, 'tcp', '127.0.0.1', 8204, 'proxied'), '127.0.0.1|proxied');

    const dup = await dobby(bus.address, ['port', 'add', web, '8203:7001/tcp']);
    assert.equal(dup.code, 1);
    assert.match(dup.stdout, new RegExp(`^error - conflict with ID ${id}: tcp \\*:8203 overlaps tcp \\*:8203`));
    const norm = await dobby(bus.address, ['port', 'add', web, '0.0.0.0:8203:7001/tcp4']);
    assert.equal(norm.code, 1);
    assert.match(norm.stdout, new RegExp(`^error - conflict with ID ${id}: tcp4 0\\.0\\.0\\.0:8203`));
    const badText = await dobby(bus.address, ['port', 'add', web, '8205/tcp']);
    assert.equal(badText.code, 2);
    assert.match(badText.stdout, /both a parent and a child port are needed/);
    const noSuch = await dobby(bus.address, ['port', 'add', 'nobody-here', '8205:80/tcp']);
    assert.equal(noSuch.code, 1);
    assert.match(noSuch.stdout, /failed to find container 'nobody-here'/);

    const ls = await dobby(bus.address, ['port', 'ls']);
    assert.equal(ls.code, 0);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4, ls.stdout);
    assert.match(lines[2]!, new RegExp(`^ +${id} \\| web-\\w+ +\\| nat +\\| tcp \\*:8203 -> web-\\w+:7001$`));
    const json = await dobby(bus.address, ['--json', 'port', 'ls']);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; ports: { id: number; driver: string }[] };
    assert.equal(parsed.ok, true);
    assert.deepEqual(parsed.ports.map((p) => p.driver), ['nat', 'builtin']);

    const rm = await dobby(bus.address, ['port', 'rm', String(id)]);
    assert.equal(rm.code, 0);
    assert.equal(rm.stdout, `removed port ${id}\n`);
    const again = await dobby(bus.address, ['port', 'rm', String(id)]);
    assert.equal(again.code, 1);
    assert.match(again.stdout, new RegExp(`^error - unknown id: ${id} \\(forwarded: ${parsed.ports[1]!.id}; dobby port ls lists them\\)`));
    const notNumber = await dobby(bus.address, ['port', 'rm', 'abc']);
    assert.equal(notNumber.code, 2);

    // The container goes: its remaining (builtin) port goes with it.
    manager.exit(cd, { exitCode: 0, signal: null, status: 0 });
    const end = Date.now() + 5_000;
    while (ports.listPorts().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ports.listPorts(), []);
    assert.equal((await dobby(bus.address, ['port', 'ls'])).stdout, 'no ports\n');
    assert.equal(await snapshot(topo.host), clean);
    const introspected = await busctl(bus.address, ['introspect', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ports1']);
    assert.match(introspected.stdout, /\.AddPort +method +is +is/);
  });
});
