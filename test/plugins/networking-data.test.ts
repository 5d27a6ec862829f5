// The networking data check: defaults as Dobby's, and every bad field named with what would be right.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DobbyError } from '../../src/errors.ts';
import { parseNetworkingData } from '../../src/plugins/networking/data.ts';

function rejects(data: unknown, field: RegExp): void {
  assert.throws(() => parseNetworkingData(data), (err: DobbyError) => {
    assert.ok(err instanceof DobbyError);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, field);
    return true;
  });
}

describe('networking data', () => {
  test('the spec\'s generated entries parse; neither family given means IPv4; protocol defaults to tcp', () => {
    assert.deepEqual(parseNetworkingData({ type: 'nat', dnsmasq: true, ipv4: true }).data.ipv4, true);
    const none = parseNetworkingData({ type: 'none' }).data;
    assert.equal(none.type, 'none');
    assert.equal(none.ipv4, true);
    assert.equal(none.ipv6, false);
    const v6 = parseNetworkingData({ type: 'nat', ipv6: 'true' }).data;
    assert.deepEqual([v6.ipv4, v6.ipv6], [false, true]);
    const ic = parseNetworkingData({ type: 'nat', interContainer: [{ direction: 'IN', port: 80 }, { direction: 'out', port: 53, protocol: 'UDP' }] }).data.interContainer;
    assert.deepEqual(ic, [
      { direction: 'in', port: 80, protocol: 'tcp', localhostMasquerade: false },
      { direction: 'out', port: 53, protocol: 'udp', localhostMasquerade: false },
    ]);
    const pf = parseNetworkingData({ type: 'nat', portForwarding: { hostToContainer: [{ port: 8080 }], localhostMasquerade: true } }).data.portForwarding;
    assert.deepEqual(pf, { hostToContainer: [{ port: 8080, protocol: 'tcp' }], containerToHost: [], localhostMasquerade: true });
  });

  test('unknown keys and options that do nothing for the type are warnings, not errors', () => {
    const nat = parseNetworkingData({ type: 'nat', holes: [], multicastForwarding: [{ ip: '239.255.255.250', port: 1900 }, { ip: 'FF02::FB', port: 5353 }] });
    assert.deepEqual(nat.warnings.length, 1);
    assert.match(nat.warnings.join('\n'), /networking\.data\.holes/);
    assert.deepEqual(nat.data.multicastForwarding, [{ ip: '239.255.255.250', port: 1900 }, { ip: 'FF02::FB', port: 5353 }]);
    const open = parseNetworkingData({ type: 'open', multicastForwarding: [{ ip: '239.255.255.250', port: 1900 }] });
    assert.match(open.warnings.join('\n'), /multicastForwarding is ignored with "type": "open" \(the container is on the host's network/);
    assert.match(parseNetworkingData({ type: 'none', multicastForwarding: [{ ip: '224.0.0.251', port: 5353 }] }).warnings.join('\n'), /ignored with "type": "none"/);
    // What is built is no longer a warning; dnsmasq where Dobby ignores it is.
    assert.deepEqual(parseNetworkingData({ type: 'nat', dnsmasq: true, interContainer: [{ direction: 'in', port: 80, localhostMasquerade: true }] }).warnings, []);
    assert.match(parseNetworkingData({ type: 'none', dnsmasq: true }).warnings.join('\n'), /networking\.data\.dnsmasq is for "type": "nat" only .* ignored for "none"/);
    // What Dobby's spec conversion makes of "network": "open" is no warning.
    assert.deepEqual(parseNetworkingData({ type: 'open', dnsmasq: true }).warnings, []);
  });

  test('bad input names the field', () => {
    rejects(null, /networking\.data\.type is missing/);
    rejects([], /networking\.data must be an object, not an array/);
    rejects({ type: 'bridge' }, /networking\.data\.type is "bridge"; it must be "nat", "open" or "none"/);
    rejects({ type: 'private' }, /"private" is written "none"/);
    rejects({ type: 'nat', ipv4: 1 }, /networking\.data\.ipv4 is 1; it must be true or false/);
    rejects({ type: 'nat', interContainer: [{ direction: 'in', port: 0 }] }, /interContainer\[0\]\.port is 0; a port is a whole number from 1 to 65535/);
    rejects({ type: 'nat', interContainer: [{ direction: 'in', port: 80 }, { direction: 'in', port: 65536 }] }, /interContainer\[1\]\.port is 65536/);
    rejects({ type: 'nat', interContainer: [{ direction: 'sideways', port: 80 }] }, /interContainer\[0\]\.direction is "sideways"/);
    rejects({ type: 'nat', interContainer: [{ direction: 'in', port: 80, protocol: 'sctp' }] }, /interContainer\[0\]\.protocol is "sctp"; the protocol must be "tcp" or "udp"/);
    rejects({ type: 'nat', interContainer: {} }, /interContainer must be an array/);
    rejects({ type: 'none', interContainer: [{ direction: 'in', port: 80 }] }, /interContainer needs "type": "nat"/);
    rejects({ type: 'nat', portForwarding: { hostToContainer: [{ port: '80' }] } }, /portForwarding\.hostToContainer\[0\]\.port is "80"/);
    rejects({ type: 'nat', portForwarding: { containerToHost: [{ port: 80, protocol: 'icmp' }] } }, /portForwarding\.containerToHost\[0\]\.protocol/);
    rejects({ type: 'nat', portForwarding: [] }, /portForwarding must be an object/);
    rejects({ type: 'nat', multicastForwarding: [{ ip: 'nope', port: 1 }] }, /multicastForwarding\[0\]\.ip/);
    rejects({ type: 'nat', dnsmasq: 'yes' }, /networking\.data\.dnsmasq is "yes"; it must be true or false/);
    rejects({ type: 'nat', interContainer: [{ direction: 'out', port: 80, localhostMasquerade: 1 }] }, /interContainer\[0\]\.localhostMasquerade is 1; it must be true or false/);
    for (const ip of ['192.0.2.1', '223.255.255.255', '240.0.0.1', '2001:db8::1', 'ff::1', '::ffff:239.1.1.1', 'ff02::1%eth0', '239.1.1', 7]) {
      rejects({ type: 'nat', multicastForwarding: [{ ip: '239.1.1.1', port: 1 }, { ip, port: 1 }] }, /networking\.data\.multicastForwarding\[1\]\.ip is .*; it must be a multicast address \(IPv4 224\.0\.0\.0\/4 or IPv6 ff00::\/8\)/);
    }
    rejects({ type: 'nat', multicastForwarding: [{ ip: '239.1.1.1' }] }, /multicastForwarding\[0\]\.port is missing; a port is a whole number from 1 to 65535/);
    rejects({ type: 'nat', multicastForwarding: [{ ip: '239.1.1.1', port: 70000 }] }, /multicastForwarding\[0\]\.port is 70000/);
    rejects({ type: 'nat', multicastForwarding: ['239.1.1.1:5000'] }, /multicastForwarding\[0\] must be an object like \{"ip": "239\.255\.255\.250", "port": 1900\}/);
    rejects({ type: 'nat', multicastForwarding: { ip: '239.1.1.1', port: 1 } }, /multicastForwarding must be an array/);
  });

  test('any port outside 1-65535 or non-integer is refused, any inside accepted', () => {
    fc.assert(fc.property(fc.oneof(fc.integer({ min: -100000, max: 200000 }), fc.double(), fc.string()), (port) => {
      const ok = typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
      const data = { type: 'nat', interContainer: [{ direction: 'out', port }] };
      if (ok) assert.equal(parseNetworkingData(data).data.interContainer[0]?.port, port);
      else rejects(data, /interContainer\[0\]\.port/);
    }));
  });
});
