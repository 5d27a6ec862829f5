// Ports through the real daemon: a crun container with its own network namespace (a veth the test
// wires to a test "host" namespace), `dobby port add` over a private bus with both drivers, an HTTP
// request from an outside namespace, and the ports gone with the container, rules and sockets as before.

import assert from 'node:assert/strict';
import { symlink, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { run } from '../../src/drivers/process.ts';
import { silentLogger } from '../../src/log.ts';
import { dobby, serve, testBus, type TestBus } from '../api/harness.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { ADDR, ask, makeTopology, snapshot, type Topology } from '../drivers/ports/netns-fixture.ts';

const HOST_SIDE = '10.213.3.1';
const CTR_SIDE = '10.213.3.2';
const REQUEST = 'GET / HTTP/1.0\r\n\r\n';

const scratch = makeScratch();
let topo: Topology;
let bus: TestBus;
let daemon: Daemon;
let clean: string;

async function sh(args: readonly string[]): Promise<void> {
  const r = await run(args[0]!, args.slice(1), { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.trim()}`);
}

async function httpBundle(id: string): Promise<string> {
  const args = ['/bin/httpd', '-f', '-p', '7001', '-h', '/www'];
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args, init: true });
  await symlink('busybox', join(bundle, 'rootfs', 'bin', 'httpd'));
  await mkdir(join(bundle, 'rootfs', 'www'));
  await writeFile(join(bundle, 'rootfs', 'www', 'index.html'), `hello from ${id}\n`);
  return bundle;
}

describe('ports through dobbyd, a crun container and the dobby CLI', { timeout: 180_000, concurrency: 1 }, () => {
  before(async () => {
    topo = await makeTopology();
    bus = await testBus();
    const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
    assert.ok(options !== 'help');
    daemon = await startDaemon(options, silentLogger(), { portsHostNetns: topo.host });
    await serve({ manager: daemon.manager, address: bus.address, ports: daemon.ports });
    clean = await snapshot(topo.host);
  });

  after(async () => {
    try {
      await daemon?.close();
      await bus?.stop();
    } finally {
      await topo?.destroy();
    }
  });

  it('forwards to a running container with nat and builtin, and drops its ports when it stops', async () => {
    const id = scratch.id('web');
    const cd = await daemon.manager.start({ id, bundle: await httpBundle(id) });
    const pid = daemon.manager.get(cd)?.pid;
    assert.ok(typeof pid === 'number' && pid > 0);
    // The container's own namespace, wired to the test host by a veth (what the networking plugin does for nat).
    const veth = `dpc${topo.tag}`;
    await sh(['ip', 'link', 'add', veth, 'netns', topo.host, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', String(pid)]);
    await sh(['ip', '-n', topo.host, 'addr', 'add', `${HOST_SIDE}/24`, 'dev', veth]);
    await sh(['ip', '-n', topo.host, 'link', 'set', veth, 'up']);
    await sh(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', 'addr', 'add', `${CTR_SIDE}/24`, 'dev', 'eth1']);
    await sh(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', 'link', 'set', 'eth1', 'up']);
    await sh(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', 'route', 'add', 'default', 'via', HOST_SIDE]);

    const nat = await dobby(bus.address, ['port', 'add', id, `8401:${CTR_SIDE}:7001/tcp4`]);
    assert.equal(nat.code, 0, nat.stdout + nat.stderr);
    assert.match(nat.stdout, /^port \d+: tcp4 \*:8401 -> .*\/10\.213\.3\.2:7001 \(nat\)$/m);
    const proxied = await dobby(bus.address, ['port', 'add', '--driver', 'builtin', id, '8402:7001/tcp4']);
    assert.equal(proxied.code, 0, proxied.stdout + proxied.stderr);
    const noAddress = await dobby(bus.address, ['port', 'add', id, '8403:7001/tcp4']);
    assert.equal(noAddress.code, 1);
    assert.match(noAddress.stdout, /has no IPv4 address .*give a childIP, or use the builtin driver/);
    const badPort = await dobby(bus.address, ['port', 'add', id, '0:7001/tcp']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stdout, /parentPort 0 is not a port/);

    for (const port of [8401, 8402]) {
      const reply = await ask(topo.client, 'tcp', ADDR.hostX4, port, REQUEST);
      assert.match(reply, /^HTTP\/1\.[01] 200/);
      assert.match(reply, new RegExp(`hello from ${id}`));
    }
    assert.equal(daemon.ports.listPorts().length, 2);

    const deleted = firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(30_000)));
    await daemon.manager.stop(cd, true);
    await deleted;
    const end = Date.now() + 10_000;
    while (daemon.ports.listPorts().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(daemon.ports.listPorts(), []);
    assert.equal((await dobby(bus.address, ['port', 'ls'])).stdout, 'no ports\n');
    // The veth went with the container's namespace; the rules and listeners with its ports.
    assert.equal(await snapshot(topo.host), clean);
  });
});
