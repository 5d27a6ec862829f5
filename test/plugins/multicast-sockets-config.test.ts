// MulticastSockets plugin data: what is accepted, what is refused with which field, and never a throw.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  clientEnvName, MAX_SOCKETS, parseMulticastSocketsData, serverEnvName, type MulticastSocketsParse,
} from '../../src/plugins/multicast-sockets-config.ts';

function refused(data: unknown): { field: string; message: string } {
  const r = parseMulticastSocketsData(data);
  assert.ok(!r.ok, `accepted ${JSON.stringify(data)}`);
  return r;
}

const ssdp = { name: 'SSDP', ip: '239.255.255.250', port: 1900 };

describe('MulticastSockets data', () => {
  test('absent data or absent lists mean no sockets', () => {
    for (const data of [undefined, null, {}, { serverSockets: [] }, { clientSockets: null }]) {
      assert.deepEqual(parseMulticastSocketsData(data), { ok: true, config: { serverSockets: [], clientSockets: [] } });
    }
  });

  test("Dobby's example is accepted as given", () => {
    const data = { serverSockets: [ssdp, { name: 'mdns', ip: '224.0.0.251', port: 5353 }], clientSockets: [{ name: 'SSDP' }, { name: 'NAME1' }] };
    assert.deepEqual(parseMulticastSocketsData(data), { ok: true, config: data });
    assert.equal(serverEnvName('SSDP'), 'MCAST_SERVER_SOCKET_SSDP_FD');
    assert.equal(clientEnvName('NAME1'), 'MCAST_CLIENT_SOCKET_NAME1_FD');
  });

  test('the multicast range is 224.0.0.0 to 239.255.255.255, nothing around it', () => {
    for (const ip of ['224.0.0.0', '224.0.0.1', '239.255.255.255', '232.1.2.3']) {
      assert.equal(parseMulticastSocketsData({ serverSockets: [{ ...ssdp, ip }] }).ok, true, ip);
    }
    for (const ip of ['223.255.255.255', '240.0.0.0', '255.255.255.255', '127.0.0.1', '0.0.0.0', '10.1.2.3']) {
      const r = refused({ serverSockets: [{ ...ssdp, ip }] });
      assert.equal(r.field, 'serverSockets[0].ip');
      assert.match(r.message, new RegExp(`^serverSockets\\[0\\]\\.ip "${ip.replaceAll('.', '\\.')}" is not a multicast address; it must be in 224\\.0\\.0\\.0/4`));
    }
  });

  test('addresses that are not dotted-quad IPv4 are refused as such; IPv6 is named', () => {
    for (const ip of ['239.1.2', '239.1.2.3.4', '239.01.2.3', '239.1.2.256', ' 239.1.2.3', '239.1.2.3 ', 'ssdp.local', '', '0xEF.1.2.3']) {
      const r = refused({ serverSockets: [{ ...ssdp, ip }] });
      assert.equal(r.field, 'serverSockets[0].ip');
      assert.match(r.message, /is not an IPv4 address/, ip);
    }
    assert.match(refused({ serverSockets: [{ ...ssdp, ip: 'ff02::fb' }] }).message, /"ff02::fb" is IPv6; only IPv4 multicast groups \(224\.0\.0\.0\/4\)/);
    assert.match(refused({ serverSockets: [{ ...ssdp, ip: 3925868538 }] }).message, /^serverSockets\[0\]\.ip is number 3925868538; it must be a string/);
    assert.match(refused({ serverSockets: [{ name: 'a', port: 1 }] }).message, /^serverSockets\[0\]\.ip is missing/);
  });

  test('ports are integers from 1 to 65535', () => {
    for (const port of [1, 80, 65535]) assert.equal(parseMulticastSocketsData({ serverSockets: [{ ...ssdp, port }] }).ok, true);
    for (const port of [0, -1, 65536, 100000]) {
      const r = refused({ serverSockets: [{ ...ssdp, port }] });
      assert.equal(r.field, 'serverSockets[0].port');
      assert.equal(r.message, `serverSockets[0].port ${port} is out of range; it must be from 1 to 65535`);
    }
    for (const port of [1900.5, '1900', null, true, Number.NaN]) {
      const r = refused({ serverSockets: [{ ...ssdp, port }] });
      assert.equal(r.field, 'serverSockets[0].port');
      assert.match(r.message, /it must be an integer from 1 to 65535$/);
    }
    assert.equal(refused({ serverSockets: [{ name: 'a', ip: '239.1.1.1' }] }).message, 'serverSockets[0].port is missing; it must be a UDP port from 1 to 65535');
  });

  test('names: present, non-empty, letters digits and underscores, not too long', () => {
    assert.equal(refused({ clientSockets: [{}] }).message, 'clientSockets[0].name is missing; every socket needs a name for its environment variable');
    assert.equal(refused({ serverSockets: [{ ip: '239.1.1.1', port: 5 }] }).field, 'serverSockets[0].name');
    assert.match(refused({ clientSockets: [{ name: '' }] }).message, /^clientSockets\[0\]\.name is empty/);
    assert.match(refused({ clientSockets: [{ name: 7 }] }).message, /^clientSockets\[0\]\.name is number 7; it must be a string$/);
    for (const name of ['my-socket', 'a b', 'x=1', 'naïve', 'a.b', 'semi;colon', 'new\nline']) {
      const r = refused({ clientSockets: [{ name: 'ok' }, { name }] });
      assert.equal(r.field, 'clientSockets[1].name');
      assert.match(r.message, /cannot be part of an environment variable name; use only letters, digits and underscores$/);
    }
    for (const name of ['1', '_', 'ssdp', 'Mixed_Case_9']) assert.equal(parseMulticastSocketsData({ clientSockets: [{ name }] }).ok, true, name);
    assert.match(refused({ clientSockets: [{ name: 'a'.repeat(201) }] }).message, /is 201 characters long; at most 200/);
  });

  test('a name used twice in one list is refused at its second use; a server and a client may share one', () => {
    const r = refused({ serverSockets: [ssdp, { ...ssdp, name: 'other' }, { ...ssdp, port: 1901 }] });
    assert.equal(r.field, 'serverSockets[2].name');
    assert.equal(r.message, 'serverSockets[2].name "SSDP" is already the name of serverSockets[0]; names must differ, each sets MCAST_SERVER_SOCKET_SSDP_FD');
    assert.equal(refused({ clientSockets: [{ name: 'c' }, { name: 'c' }] }).field, 'clientSockets[1].name');
    assert.equal(parseMulticastSocketsData({ serverSockets: [ssdp], clientSockets: [{ name: 'SSDP' }] }).ok, true);
    // Names differing only in case are different variables.
    assert.equal(parseMulticastSocketsData({ clientSockets: [{ name: 'c' }, { name: 'C' }] }).ok, true);
  });

  test('wrong shapes and unknown fields are named', () => {
    assert.match(refused('ssdp').message, /^data is the string "ssdp"; it must be an object with "serverSockets" and\/or "clientSockets"$/);
    assert.equal(refused([ssdp]).field, 'data');
    assert.equal(refused({ serverSockets: ssdp }).message, 'serverSockets is an object; it must be an array');
    assert.equal(refused({ serverSocket: [ssdp] }).message, 'serverSocket is not a known field; data takes "serverSockets", "clientSockets"');
    assert.equal(refused({ serverSockets: [ssdp, 'x'] }).field, 'serverSockets[1]');
    assert.equal(refused({ clientSockets: [null] }).message, 'clientSockets[0] is null; it must be an object like {"name": "SSDP"}');
    assert.equal(refused({ clientSockets: [{ name: 'a', ip: '239.1.1.1' }] }).message, 'clientSockets[0].ip is not a known field; clientSockets[0] takes "name"');
    assert.equal(refused({ serverSockets: [{ ...ssdp, ttl: 4 }] }).field, 'serverSockets[0].ttl');
  });

  test(`at most ${MAX_SOCKETS} sockets in all`, () => {
    const clients = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `c${i}` }));
    assert.equal(parseMulticastSocketsData({ clientSockets: clients(MAX_SOCKETS) }).ok, true);
    const r = refused({ serverSockets: [ssdp], clientSockets: clients(MAX_SOCKETS) });
    assert.equal(r.message, `clientSockets asks for ${MAX_SOCKETS + 1} sockets in all; a container can be given at most ${MAX_SOCKETS}`);
  });
});

// --- properties ---------------------------------------------------------------------------------

const name = fc.stringMatching(/^[A-Za-z0-9_]{1,24}$/);
const group = fc.tuple(fc.integer({ min: 224, max: 239 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const validData = fc.record({
  serverSockets: fc.uniqueArray(fc.record({ name, ip: group, port }), { selector: (s) => s.name, maxLength: 6 }),
  clientSockets: fc.uniqueArray(fc.record({ name }), { selector: (s) => s.name, maxLength: 6 }),
}, { requiredKeys: [] });

type Data = { serverSockets?: Record<string, unknown>[]; clientSockets?: Record<string, unknown>[] };
interface Mutation {
  readonly describe: string;
  readonly field: string;
  apply(data: Data): void;
}

const badIp = fc.oneof(
  fc.tuple(fc.oneof(fc.integer({ min: 0, max: 223 }), fc.integer({ min: 240, max: 255 })), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.')),
  fc.string().filter((s) => !/^(22[4-9]|23[0-9])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.test(s) || s.split('.').some((o) => Number(o) > 255)),
  fc.integer(), fc.constant(null), fc.constant('ff02::fb'),
);
const badPort = fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65536 }), fc.double({ noInteger: true }), fc.string(), fc.boolean(), fc.constant(null));
const badName = fc.oneof(fc.string().filter((s) => !/^[A-Za-z0-9_]{1,200}$/.test(s)), fc.integer(), fc.constant(null), fc.constant(['x']));

/** One change to valid data that must be refused at a known field. */
function mutations(data: Data): fc.Arbitrary<Mutation>[] {
  const out: fc.Arbitrary<Mutation>[] = [];
  for (const list of ['serverSockets', 'clientSockets'] as const) {
    const entries = data[list] ?? [];
    entries.forEach((_, i) => {
      const at = `${list}[${i}]`;
      out.push(badName.map((v) => ({ describe: `${at}.name = ${JSON.stringify(v)}`, field: `${at}.name`, apply: (d) => { d[list]![i]!['name'] = v; } })));
      out.push(fc.constant({ describe: `delete ${at}.name`, field: `${at}.name`, apply: (d: Data) => { delete d[list]![i]!['name']; } }));
      out.push(fc.constantFrom('ttl', 'Name', 'interface').map((k) => ({ describe: `${at}.${k} added`, field: `${at}.${k}`, apply: (d) => { d[list]![i]![k] = 1; } })));
      if (list === 'serverSockets') {
        out.push(badIp.map((v) => ({ describe: `${at}.ip = ${JSON.stringify(v)}`, field: `${at}.ip`, apply: (d) => { d[list]![i]!['ip'] = v; } })));
        out.push(badPort.map((v) => ({ describe: `${at}.port = ${JSON.stringify(v)}`, field: `${at}.port`, apply: (d) => { d[list]![i]!['port'] = v; } })));
      }
      if (i > 0) {
        out.push(fc.nat(i - 1).map((j) => ({
          describe: `${at}.name = name of ${list}[${j}]`, field: `${at}.name`,
          apply: (d) => { d[list]![i]!['name'] = d[list]![j]!['name']; },
        })));
      }
    });
  }
  out.push(fc.constantFrom('sockets', 'serversockets', 'ClientSockets').map((k) => ({ describe: `unknown ${k}`, field: k, apply: (d) => { (d as Record<string, unknown>)[k] = []; } })));
  return out;
}

function assertWellFormed(r: MulticastSocketsParse): void {
  if (r.ok) {
    const { serverSockets, clientSockets } = r.config;
    assert.ok(serverSockets.length + clientSockets.length <= MAX_SOCKETS);
    for (const list of [serverSockets, clientSockets]) {
      assert.equal(new Set(list.map((s) => s.name)).size, list.length, 'names unique within a list');
      for (const s of list) assert.match(s.name, /^[A-Za-z0-9_]{1,200}$/);
    }
    for (const s of serverSockets) {
      assert.ok(Number.isInteger(s.port) && s.port >= 1 && s.port <= 65535);
      const first = Number(s.ip.split('.')[0]);
      assert.ok(first >= 224 && first <= 239, s.ip);
    }
  } else {
    assert.ok(r.field.length > 0);
    assert.ok(r.message.startsWith(`${r.field} `), r.message);
  }
}

describe('MulticastSockets data properties', () => {
  test('any valid data is accepted exactly as given', () => {
    fc.assert(fc.property(validData, (data) => {
      const json = JSON.parse(JSON.stringify(data)) as Data;
      const r = parseMulticastSocketsData(json);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.config, { serverSockets: json.serverSockets ?? [], clientSockets: json.clientSockets ?? [] });
    }), { numRuns: 300 });
  });

  test('valid data with one thing broken is refused, naming that field', () => {
    const broken = validData.chain((data) => {
      const ms = mutations(data);
      return fc.tuple(fc.constant(data), fc.oneof(...ms));
    });
    fc.assert(fc.property(broken, ([data, m]) => {
      const copy = structuredClone(data) as Data;
      m.apply(copy);
      const r = parseMulticastSocketsData(copy);
      assert.ok(!r.ok, `accepted after ${m.describe}`);
      assert.equal(r.field, m.field, `${m.describe}: ${r.message}`);
      assertWellFormed(r);
    }), { numRuns: 500 });
  });

  test('anything at all gives sockets or a field-naming refusal, never an exception', () => {
    const entry = fc.record({ name: fc.oneof(name, fc.anything()), ip: fc.oneof(group, fc.anything()), port: fc.oneof(port, fc.anything()) }, { requiredKeys: [] });
    const shaped = fc.record({
      serverSockets: fc.oneof(fc.array(fc.oneof(entry, fc.anything()), { maxLength: 5 }), fc.anything()),
      clientSockets: fc.oneof(fc.array(fc.oneof(entry, fc.anything()), { maxLength: 5 }), fc.anything()),
    }, { requiredKeys: [] });
    fc.assert(fc.property(fc.oneof(fc.anything(), fc.jsonValue(), shaped), (data) => {
      assertWellFormed(parseMulticastSocketsData(data));
    }), { numRuns: 1000 });
  });
});
