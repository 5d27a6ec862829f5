// The iptables text layer: arguments survive quoting and tokenising, batches render as restore
// input, save output parses; the fake refuses what the kernel refuses and applies all or nothing.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeFirewall } from '../../src/drivers/network/fake-firewall.ts';
import { parseSave, quoteArg, restoreText, tokenize } from '../../src/drivers/network/firewall.ts';
import { ipCommand } from '../../src/drivers/network/ip.ts';

describe('iptables text', () => {
  test('any argument list survives quoting then tokenising', () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 0, maxLength: 12 }), { maxLength: 8 }), (args) => {
      assert.deepEqual(tokenize(args.map(quoteArg).join(' ')), args);
    }));
  });

  test('a batch renders per table with COMMIT; save output parses into chains and rules', () => {
    const text = restoreText([
      { op: 'newChain', table: 'filter', chain: 'DOBBY-NET-FORWARD' },
      { op: 'insert', table: 'filter', chain: 'FORWARD', rule: ['-m', 'comment', '--comment', 'dobby-net bridge', '-j', 'DOBBY-NET-FORWARD'] },
      { op: 'append', table: 'nat', chain: 'DOBBY-NET-POSTROUTING', rule: ['-o', 'eth0', '-j', 'MASQUERADE'] },
    ]);
    assert.equal(text, '*filter\n-N DOBBY-NET-FORWARD\n-I FORWARD 1 -m comment --comment "dobby-net bridge" -j DOBBY-NET-FORWARD\nCOMMIT\n*nat\n-A DOBBY-NET-POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n');
    const parsed = parseSave('# Generated\n*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-mark 1\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:DOBBY-NET-FORWARD - [0:0]\n-A FORWARD -m comment --comment "dobby-net bridge" -j DOBBY-NET-FORWARD\nCOMMIT\n');
    assert.deepEqual(parsed.chains, ['filter/INPUT', 'filter/DOBBY-NET-FORWARD']);
    assert.deepEqual(parsed.rules, [{ table: 'filter', chain: 'FORWARD', rule: ['-m', 'comment', '--comment', 'dobby-net bridge', '-j', 'DOBBY-NET-FORWARD'] }]);
  });

  test('ip batch lines carry no family flags (ip -batch refuses them)', () => {
    assert.deepEqual(ipCommand({ op: 'addAddress', link: 'eth0', cidr: '2080::1/120' }), ['addr', 'add', '2080::1/120', 'dev', 'eth0', 'nodad']);
    assert.deepEqual(ipCommand({ op: 'addDefaultRoute', via: '2080::1', family: 6 }), ['route', 'add', 'default', 'via', '2080::1']);
  });

  test('the fake applies all or nothing and refuses a missing rule, a used chain, an existing chain', async () => {
    const fw = new FakeFirewall();
    const before = await fw.save(4);
    await assert.rejects(fw.apply(4, [{ op: 'newChain', table: 'filter', chain: 'DOBBY-X' }, { op: 'delete', table: 'filter', chain: 'DOBBY-X', rule: ['-j', 'ACCEPT'] }]), /Bad rule/);
    assert.equal(await fw.save(4), before);
    await fw.apply(4, [{ op: 'newChain', table: 'filter', chain: 'DOBBY-X' }, { op: 'insert', table: 'filter', chain: 'FORWARD', rule: ['-j', 'DOBBY-X'] }]);
    await assert.rejects(fw.apply(4, [{ op: 'newChain', table: 'filter', chain: 'DOBBY-X' }]), /already exists/);
    await assert.rejects(fw.apply(4, [{ op: 'deleteChain', table: 'filter', chain: 'DOBBY-X' }]), /still jumped to/);
    await assert.rejects(fw.apply(4, [{ op: 'append', table: 'filter', chain: 'FORWARD', rule: ['-j', 'DOBBY-Y'] }]), /Couldn't load target/);
    await fw.apply(4, [{ op: 'delete', table: 'filter', chain: 'FORWARD', rule: ['-j', 'DOBBY-X'] }, { op: 'deleteChain', table: 'filter', chain: 'DOBBY-X' }]);
    assert.equal(await fw.save(4), before);
  });
});
