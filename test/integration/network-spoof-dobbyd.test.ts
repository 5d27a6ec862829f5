// Issue 11's acceptance, against a real dobbyd over D-Bus: the daemon runs in a "host" namespace of
// the test (its own nat bridge, iptables and ebtables there, a private bus), and the three nat
// containers a, c, b are started through StartFromBundle in that order, 20 times in a row. Each
// time c borrows b's address and sends UDP datagrams to a: none may arrive (b's own must).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusClient } from '../../src/api/cli/bus-client.ts';
import { DobbyProxy } from '../../src/api/cli/dobby-proxy.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { ROLE_DATA, assertNoSpoofedDatagram, inNetns, spoofRound, type Endpoint } from '../helpers/spoof.ts';

const ROUNDS = 20;
const scratch = makeScratch();
const net = await makeTestNetwork();

type Role = 'a' | 'b' | 'c';

async function bundleFor(role: Role): Promise<string> {
  const dir = join(scratch.bundlesDir, `spoof-${role}`);
  const options = { args: ['/bin/sleep', '100000'], init: true };
  const path = await makeBundle(dir, options);
  await writeConfig(path, options, (config) => {
    config['rdkPlugins'] = { networking: { required: true, data: { type: 'nat', ipv4: true, ipv6: true, interContainer: ROLE_DATA[role] } } };
  });
  return path;
}

/** The container's addresses, read inside its namespace. */
async function endpoint(pid: number): Promise<Endpoint> {
  const [link] = JSON.parse(await inNetns(pid, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: { family: string; local: string; scope: string }[] }[];
  const find = (family: string): string | null => link?.addr_info.find((a) => a.family === family && a.scope === 'global')?.local ?? null;
  return { pid, ipv4: find('inet'), ipv6: find('inet6') };
}

describe('a real dobbyd: c cannot pass as b, 20 times in a row', { concurrency: 1 }, () => {
  let daemon: DobbydProcess;
  let client: BusClient;
  let proxy: DobbyProxy;
  const bundles = new Map<Role, string>();
  let hostBefore = '';

  before(async () => {
    hostBefore = await net.snapshot();
    for (const role of ['a', 'b', 'c'] as const) bundles.set(role, await bundleFor(role));
    // Dobby's settings default to IPv4 only; the IPv6 twin needs it on.
    const settings = join(scratch.dir, 'dobby.json');
    writeFileSync(settings, JSON.stringify({ network: { ipv6: true } }));
    daemon = await startDobbyd(join(scratch.dir, 'dobbyd'), ['--plugin-dir', join(scratch.dir, 'no-plugins'), '--settings-file', settings], { netns: net.hostNs });
    client = await BusClient.connect(daemon.address);
    proxy = new DobbyProxy(client);
  });

  after(async () => {
    client?.close();
    const code = await daemon?.stop();
    assert.equal(code, 0, `dobbyd did not stop cleanly: ${daemon?.stderr().slice(-2000)}`);
    // Everything of the bridge goes with the last container (the daemon's teardown is done by now).
    assert.equal(await net.snapshot(), hostBefore);
  });

  for (let round = 1; round <= ROUNDS; round++) {
    test(`round ${round}: a, c, b started through D-Bus; no datagram c sends with b's address reaches a (IPv4 and IPv6)`, async () => {
      const descriptors = new Map<Role, number>();
      try {
        for (const role of ['a', 'c', 'b'] as const) {
          const cd = await proxy.startFromBundle(scratch.id(`r${round}${role}`), bundles.get(role)!, '', '', []);
          assert.ok(cd > 0, `StartFromBundle of ${role} failed: ${daemon.stderr().slice(-2000)}`);
          descriptors.set(role, cd);
        }
        const ends = new Map<Role, Endpoint>();
        for (const [role, cd] of descriptors) {
          const info = JSON.parse(await proxy.info(cd)) as { pids: number[] };
          ends.set(role, await endpoint(info.pids[0]!));
        }
        const roles = { a: ends.get('a')!, b: ends.get('b')!, c: ends.get('c')! };
        for (const family of [4, 6] as const) assertNoSpoofedDatagram(await spoofRound(net, roles, family, `dobbyd${round}-${family}`), `round ${round}, IPv${family}`);
      } finally {
        for (const cd of descriptors.values()) await proxy.stop(cd, true);
        // Stop returns before the teardown hooks ran: the next round starts on a clean slate.
        const deadline = Date.now() + 20_000;
        while ((await proxy.list()).length > 0 && Date.now() < deadline) await sleep(50);
        assert.deepEqual(await proxy.list(), []);
      }
    });
  }
});
