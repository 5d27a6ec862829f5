// Port spec validation, normalisation and conflicts: rootlesskit's cases, the ones it misses, and properties.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bindError, PortError } from '../../../src/ports/port-errors.ts';
import { checkPortSpec, conflicts, findConflict, normalise, parsePortText, PORT_PROTOS, type PortSpec, type PortStatus } from '../../../src/ports/port-spec.ts';
import { bindsOfLocalAddress, parseSsListeners } from '../../../src/drivers/ports/listeners.ts';

const base = { proto: 'tcp', parentIP: '', parentPort: 8080, childIP: '', childPort: 80, containerId: 'web' };

function bad(input: unknown, reason: string, pattern: RegExp): void {
  const r = checkPortSpec(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be refused`);
  if (r.ok) return;
  assert.ok(r.error instanceof PortError);
  assert.equal(r.error.reason, reason);
  assert.match(r.error.message, pattern);
}

function ok(input: Record<string, unknown>): PortSpec {
  const r = checkPortSpec(input);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(input)} to pass: ${r.error.message}`);
  return r.spec;
}

describe('checkPortSpec: rootlesskit rules', () => {
  it('refuses unknown protos, case-sensitively, and says which are known', () => {
    bad({ ...base, proto: '' }, 'invalid-proto', /unknown proto "".*tcp, tcp4, tcp6, udp, udp4, udp6/);
    bad({ ...base, proto: 'NaN' }, 'invalid-proto', /unknown proto "NaN"/);
    bad({ ...base, proto: 'TCP' }, 'invalid-proto', /lower case: "tcp"/);
    bad({ ...base, proto: 'sctp' }, 'invalid-proto', /sctp is not supported/);
    bad({ ...base, proto: undefined }, 'invalid-proto', /unknown proto missing/);
    for (const proto of PORT_PROTOS) ok({ ...base, proto, parentIP: '' });
  });

  it('refuses addresses that do not parse, naming the field', () => {
    bad({ ...base, parentIP: 'invalid' }, 'invalid-parent-ip', /parentIP "invalid" does not parse/);
    bad({ ...base, childIP: 'invalid' }, 'invalid-child-ip', /childIP "invalid" does not parse/);
    bad({ ...base, parentIP: '[::1]' }, 'invalid-parent-ip', /without brackets/);
    bad({ ...base, parentIP: '256.1.1.1' }, 'invalid-parent-ip', /parentIP/);
    bad({ ...base, parentIP: 'fe80::1%eth0' }, 'invalid-parent-ip', /zone ids/);
    bad({ ...base, parentIP: 7 }, 'invalid-parent-ip', /parentIP 7 is not an IP address/);
  });

  it('refuses ports outside 1..65535 and non-integers', () => {
    for (const port of [0, 65536, -200, 1_000_000, 1.5, '80', Number.NaN, null, undefined]) {
      bad({ ...base, parentPort: port }, 'invalid-port', /parentPort .* is not a port: use a whole number from 1 to 65535/);
      bad({ ...base, childPort: port }, 'invalid-port', /childPort .* is not a port/);
    }
    for (const port of [1, 20, 500, 1337, 65000, 65535]) ok({ ...base, parentPort: port, childPort: port });
  });

  it('refuses things that are not specs and bad container ids', () => {
    bad(null, 'invalid-spec', /must be an object/);
    bad([1], 'invalid-spec', /not an array/);
    bad('tcp', 'invalid-spec', /must be an object/);
    bad({ ...base, containerId: '' }, 'invalid-container', /containerId: the container id is empty/);
    bad({ ...base, containerId: '../x' }, 'invalid-container', /containerId/);
  });
});

describe('checkPortSpec: families (what rootlesskit lacks)', () => {
  it('refuses a parentIP of the wrong family for a 4/6 proto', () => {
    bad({ ...base, proto: 'tcp4', parentIP: '::1' }, 'family-mismatch', /parentIP ::1 is IPv6 but proto tcp4 is IPv4 only/);
    bad({ ...base, proto: 'udp6', parentIP: '127.0.0.1' }, 'family-mismatch', /parentIP 127.0.0.1 is IPv4 but proto udp6/);
  });

  it('refuses a childIP of the wrong family', () => {
    bad({ ...base, proto: 'tcp4', childIP: 'fd00::2' }, 'family-mismatch', /childIP fd00::2 is IPv6 but proto tcp4 is IPv4/);
    bad({ ...base, proto: 'tcp6', childIP: '10.0.0.2' }, 'family-mismatch', /childIP 10.0.0.2 is IPv4/);
    bad({ ...base, proto: 'tcp', parentIP: '127.0.0.1', childIP: '::1' }, 'family-mismatch', /but parentIP 127.0.0.1 is IPv4/);
    bad({ ...base, childIP: '0.0.0.0' }, 'invalid-child-ip', /wildcard/);
    ok({ ...base, proto: 'tcp', childIP: '10.0.0.2' });
    ok({ ...base, proto: 'tcp', parentIP: '::', childIP: '10.0.0.2' });
  });

  it('respells addresses canonically', () => {
    assert.equal(ok({ ...base, parentIP: '0:0:0:0::1' }).parentIP, '::1');
    assert.equal(ok({ ...base, parentIP: '::ffff:127.0.0.1', proto: 'tcp4' }).parentIP, '127.0.0.1');
    assert.equal(ok({ ...base, childIP: 'FD00:0::2' }).childIP, 'fd00::2');
  });
});

const status = (id: number, s: Partial<PortSpec>): PortStatus => ({ id, spec: ok({ ...base, ...s }) });

describe('conflicts', () => {
  const existing = [status(1, { parentIP: '', parentPort: 80 }), status(2, { parentIP: '10.10.10.10', parentPort: 8080 })];
  const conflictOf = (s: Partial<PortSpec>): number | undefined => findConflict(ok({ ...base, ...s }), existing)?.conflictsWith;

  it("rootlesskit's cases", () => {
    assert.equal(conflictOf({ parentPort: 80, childPort: 81 }), 1);
    assert.equal(conflictOf({ parentIP: '10.10.10.10', parentPort: 8080 }), 2);
    assert.equal(conflictOf({ proto: 'udp', parentPort: 80 }), undefined);
    assert.equal(conflictOf({ parentIP: '10.10.10.11', parentPort: 8080 }), undefined);
    assert.equal(conflictOf({ parentIP: '10.10.10.10', parentPort: 8081 }), undefined);
  });

  it('the ones that differ only in normalisation', () => {
    assert.equal(conflictOf({ proto: 'tcp4', parentPort: 80 }), 1);
    assert.equal(conflictOf({ proto: 'tcp6', parentPort: 80 }), 1);
    assert.equal(conflictOf({ parentIP: '0.0.0.0', parentPort: 80 }), 1);
    assert.equal(conflictOf({ parentIP: '::', parentPort: 80 }), 1);
    assert.equal(conflictOf({ parentIP: '127.0.0.1', parentPort: 80 }), 1, 'a specific address under a wildcard');
    assert.equal(conflictOf({ proto: 'tcp4', parentIP: '::ffff:10.10.10.10', parentPort: 8080 }), 2);
    assert.equal(conflictOf({ parentIP: '0.0.0.0', parentPort: 8080 }), 2, 'a wildcard over a specific address');
  });

  it('families that cannot meet do not conflict', () => {
    const v4 = status(1, { proto: 'tcp4', parentIP: '0.0.0.0', parentPort: 90 });
    assert.equal(conflicts(ok({ ...base, proto: 'tcp6', parentPort: 90 }), v4.spec), false);
    assert.equal(conflicts(ok({ ...base, parentIP: '::1', parentPort: 90 }), v4.spec), false);
    assert.equal(conflicts(ok({ ...base, parentIP: '::', parentPort: 90 }), v4.spec), true, ':: with plain tcp is dual-stack');
  });

  it('names the other port and what to do', () => {
    const e = findConflict(ok({ ...base, proto: 'tcp4', parentPort: 80 }), existing);
    assert.ok(e !== null);
    assert.match(e.message, /^conflict with ID 1: tcp4 \*:80 overlaps tcp \*:80 \(container web\); pick another parentPort/);
  });
});

describe('parsePortText (CLI form)', () => {
  it('parses the forms rootlesskit accepts', () => {
    const p = (t: string) => { const r = parsePortText(t, 'web'); if (!r.ok) assert.fail(r.error.message); return r.spec; };
    assert.deepEqual(p('8080:80/tcp'), { ...base, containerId: 'web' });
    assert.deepEqual(p('127.0.0.1:8080:80/tcp4'), { ...base, proto: 'tcp4', parentIP: '127.0.0.1' });
    assert.deepEqual(p('[::1]:8080:80/tcp6'), { ...base, proto: 'tcp6', parentIP: '::1' });
    assert.deepEqual(p('[::1]:8080:[::2]:80/udp'), { ...base, proto: 'udp', parentIP: '::1', childIP: '::2' });
    assert.deepEqual(p('8080:10.0.0.2:80/tcp'), { ...base, childIP: '10.0.0.2' });
  });
  it('refuses the rest', () => {
    for (const t of ['bad', '8080', '8080:80', '8080:80/tcp,9090:90/tcp', '1:2:3:4:5/tcp', '[::1:8080:80/tcp', 'x:80/tcp']) {
      assert.equal(parsePortText(t, 'web').ok, false, t);
    }
  });
});

describe('ss listener parsing', () => {
  it('reads the address forms ss prints', () => {
    assert.deepEqual(bindsOfLocalAddress('*:80'), [{ family: 4, address: null }, { family: 6, address: null }]);
    assert.deepEqual(bindsOfLocalAddress('[::]:80'), [{ family: 6, address: null }]);
    assert.deepEqual(bindsOfLocalAddress('127.0.0.53%lo:53'), [{ family: 4, address: '127.0.0.53' }]);
    assert.deepEqual(bindsOfLocalAddress('[::ffff:127.0.0.1]:80'), [{ family: 4, address: '127.0.0.1' }]);
    assert.equal(parseSsListeners('LISTEN 0 511 0.0.0.0:8080 0.0.0.0:*\n').length, 1);
  });
});

describe('bind errors', () => {
  const errno = (code: string): Error => Object.assign(new Error(`listen ${code}: x`), { code });
  it('name the address and what would be right', () => {
    const inUse = bindError(errno('EADDRINUSE'), 'tcp *:8080', 8080);
    assert.equal(inUse.reason, 'address-in-use');
    assert.equal(inUse.code, 'INVALID_ARGUMENT');
    assert.match(inUse.message, /^tcp \*:8080 is already in use by another program on the host: pick another parentPort/);
    const denied = bindError(errno('EACCES'), 'tcp4 0.0.0.0:80', 80);
    assert.equal(denied.reason, 'permission-denied');
    assert.match(denied.message, /binding tcp4 0\.0\.0\.0:80 was refused \(EACCES\): ports below net\.ipv4\.ip_unprivileged_port_start need CAP_NET_BIND_SERVICE/);
    assert.equal(bindError(errno('EADDRNOTAVAIL'), 'tcp 10.9.9.9:80', 80).reason, 'address-not-available');
    const other = bindError(errno('EINVAL'), 'tcp *:80', 80);
    assert.equal(other.reason, 'driver-failed');
    assert.deepEqual(Object.keys(other.toJSON()).sort(), ['code', 'message', 'reason']);
  });
});

// ---- properties ----

const ipArb = fc.oneof(
  fc.constantFrom('', '0.0.0.0', '::', '127.0.0.1', '127.0.0.2', '::1', '10.1.2.3', 'fd00::2', '0:0::1', '::ffff:10.1.2.3', 'bogus', '[::1]'),
  fc.ipV4(),
  fc.ipV6(),
);
const specLike = fc.record({
  proto: fc.oneof(fc.constantFrom(...PORT_PROTOS), fc.string()),
  parentIP: ipArb,
  parentPort: fc.oneof(fc.integer({ min: 79, max: 82 }), fc.integer({ min: -5, max: 70000 }), fc.double()),
  childIP: fc.oneof(fc.constant(''), ipArb),
  childPort: fc.integer({ min: 0, max: 65536 }),
  containerId: fc.constantFrom('a', 'b', ''),
}, { requiredKeys: [] });
/** Mostly valid and crowded on a few ports, so conflicts are common. */
const crowded = fc.record({
  proto: fc.constantFrom(...PORT_PROTOS),
  parentIP: fc.constantFrom('', '0.0.0.0', '::', '127.0.0.1', '127.0.0.2', '::1', '10.1.2.3', 'fd00::2', '0:0::1', '::ffff:10.1.2.3'),
  parentPort: fc.integer({ min: 79, max: 81 }),
  childIP: fc.constantFrom('', '10.0.0.2', 'fd00::9'),
  childPort: fc.integer({ min: 1, max: 3 }),
  containerId: fc.constantFrom('a', 'b'),
});

describe('properties', () => {
  it('checkPortSpec never throws, whatever it is given', () => {
    fc.assert(fc.property(fc.oneof(fc.anything(), specLike), (input) => {
      const r = checkPortSpec(input);
      assert.equal(typeof r.ok, 'boolean');
      if (!r.ok) assert.ok(r.error instanceof PortError && r.error.message.length > 0);
    }), { numRuns: 2000 });
  });

  it('a valid spec checked again is unchanged (canonical form is a fixed point)', () => {
    fc.assert(fc.property(specLike, (input) => {
      const r = checkPortSpec(input);
      if (!r.ok) return;
      const again = checkPortSpec(r.spec);
      assert.ok(again.ok);
      assert.deepEqual(again.spec, r.spec);
    }), { numRuns: 2000 });
  });

  it('admitting only conflict-free specs keeps the set pairwise conflict-free', () => {
    let totalRefused = 0;
    fc.assert(fc.property(fc.array(fc.oneof({ arbitrary: crowded, weight: 4 }, { arbitrary: specLike, weight: 1 }), { minLength: 10, maxLength: 40 }), (inputs) => {
      const set: PortStatus[] = [];
      for (const input of inputs) {
        const r = checkPortSpec(input);
        if (!r.ok) continue;
        if (findConflict(r.spec, set) === null) set.push({ id: set.length + 1, spec: r.spec });
        else totalRefused++;
      }
      for (const a of set) for (const b of set) if (a !== b) assert.equal(conflicts(a.spec, b.spec), false);
    }));
    assert.ok(totalRefused > 100, `the generator should produce conflicts (got ${totalRefused})`);
  });

  it('conflict is symmetric and reflexive', () => {
    fc.assert(fc.property(fc.oneof(crowded, specLike), crowded, (x, y) => {
      const a = checkPortSpec(x);
      const b = checkPortSpec(y);
      if (!a.ok || !b.ok) return;
      assert.equal(conflicts(a.spec, a.spec), true);
      assert.equal(conflicts(a.spec, b.spec), conflicts(b.spec, a.spec));
    }));
  });

  it('specs that differ only in normalisation (spelling, proto suffix, wildcard form, child side) always conflict', () => {
    const respell = (ip: string): fc.Arbitrary<string> => {
      if (ip === '') return fc.constant('');
      if (ip.includes(':')) return fc.constantFrom(ip, ip.toUpperCase(), ip === '::' ? '0::0' : ip.replace('::', ':0::'));
      return fc.constantFrom(ip, `::ffff:${ip}`);
    };
    const arb = fc.oneof(crowded, specLike)
      .map((input) => checkPortSpec(input))
      .filter((r): r is { ok: true; spec: PortSpec } => r.ok)
      .chain(({ spec }) => fc.record({
        spec: fc.constant(spec),
        parentIP: respell(spec.parentIP),
        widen: fc.boolean(),
        childPort: fc.integer({ min: 1, max: 65535 }),
        containerId: fc.constantFrom('a', 'b'),
      }));
    fc.assert(fc.property(arb, ({ spec, parentIP, widen, childPort, containerId }) => {
      const t = spec.proto.startsWith('tcp') ? 'tcp' : 'udp';
      const fam = normalise(spec).binds[0]!.family;
      // tcp4 ↔ tcp (same family served) and "" ↔ the family's wildcard.
      const proto = widen ? t : spec.proto;
      let ip = parentIP;
      if (ip === '' && spec.proto !== t) ip = fam === 4 ? '0.0.0.0' : '::';
      const variant = checkPortSpec({ ...spec, proto, parentIP: ip, childPort, childIP: '', containerId });
      if (!variant.ok) return; // e.g. a v4-mapped spelling under tcp6
      assert.equal(conflicts(spec, variant.spec), true, `${JSON.stringify(spec)} vs ${JSON.stringify(variant.spec)}`);
    }), { numRuns: 1000 });
  });
});
