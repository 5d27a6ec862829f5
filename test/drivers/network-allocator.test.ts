// The address allocator: never one address twice while leased, in the pool, persisted, safe under
// concurrent calls, a clear error when the range is full; the range and IPv6 helpers.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AddressAllocator, checkIpv6Prefix, ipv4ToNumber, ipv4ToString, ipv6For, parseIpv4Range, poolBounds,
} from '../../src/drivers/network/address-allocator.ts';

const dir = mkdtempSync('/tmp/dobby-h6-alloc-');
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `leases-${++n}.json`);

describe('address allocator', () => {
  test('ranges and derived addresses', () => {
    const r = parseIpv4Range('100.64.11.0/24', 'range');
    assert.deepEqual(poolBounds(r), { first: ipv4ToNumber('100.64.11.2'), last: ipv4ToNumber('100.64.11.252') });
    assert.equal(ipv6For('2080:d0bb:1e::', ipv4ToNumber('100.64.11.5') ?? 0), '2080:d0bb:1e::6440:b05');
    assert.throws(() => parseIpv4Range('100.64.11.1/24', 'settings network.addressRange'), /settings network\.addressRange '100\.64\.11\.1\/24' has host bits set: the network is 100\.64\.11\.0\/24/);
    assert.throws(() => parseIpv4Range('300.1.1.0/24', 'x'), /not an IPv4 range/);
    assert.throws(() => parseIpv4Range('10.0.0.0/31', 'x'), /prefix length 8-29/);
    assert.throws(() => checkIpv6Prefix('2080:d0bb:1e::1', 'p'), /IPv6 \/96 prefix/);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (x) => assert.equal(ipv4ToNumber(ipv4ToString(x)), x)));
  });

  test('any sequence of allocations and releases: live addresses unique and in the pool; a new allocator sees the same', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 40 }),
      async (ops) => {
        const f = file();
        const range = parseIpv4Range('10.20.0.0/29', 'r'); // pool .2-.4: exhaustion happens too
        const a = new AddressAllocator({ file: f, range });
        const live = new Map<string, string>();
        for (const [alloc, k] of ops) {
          const id = `c${k}`;
          if (alloc) {
            try {
              const { lease } = await a.allocate(id);
              if (live.has(id)) assert.equal(lease.ipv4, live.get(id));
              live.set(id, lease.ipv4);
            } catch (err) {
              assert.equal(live.size, 3);
              assert.match(String(err), /no free address left in 10\.20\.0\.0\/29 for container 'c\d'/);
            }
          } else {
            await a.release(id);
            live.delete(id);
          }
          const addresses = [...live.values()];
          assert.equal(new Set(addresses).size, addresses.length);
          for (const ip of addresses) assert.ok(['10.20.0.2', '10.20.0.3', '10.20.0.4'].includes(ip), ip);
        }
        const again = new AddressAllocator({ file: f, range });
        assert.deepEqual(Object.fromEntries((await again.leases()).map((l) => [l.id, l.ipv4])), Object.fromEntries(live));
      },
    ), { numRuns: 60 });
  });

  test('concurrent allocations get distinct addresses; a freed address is not the next one handed out', async () => {
    const f = file();
    const a = new AddressAllocator({ file: f, range: parseIpv4Range('100.64.11.0/24', 'r') });
    const leases = await Promise.all(Array.from({ length: 30 }, (_, i) => a.allocate(`c${i}`)));
    assert.equal(new Set(leases.map((l) => l.lease.ipv4)).size, 30);
    const freed = leases[0]?.lease.ipv4;
    await a.release('c0');
    assert.notEqual((await a.allocate('late')).lease.ipv4, freed);
    const persisted = JSON.parse(readFileSync(f, 'utf8')) as { leases: Record<string, string> };
    assert.equal(Object.keys(persisted.leases).length, 30);
    assert.ok(persisted.leases['late'] !== undefined && persisted.leases['c0'] === undefined);
  });
});
