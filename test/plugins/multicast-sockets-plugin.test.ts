// The MulticastSockets plugin over the fake socket driver: fds and env it adds, closing, failures, no leaks.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { DobbyError } from '../../src/errors.ts';
import { FakeMulticastSockets } from '../../src/drivers/sockets/fake-multicast-sockets.ts';
import { createMulticastSocketsPlugin, MULTICAST_SOCKETS_PLUGIN } from '../../src/plugins/multicast-sockets.ts';
import { HookHint, type HookContext, type StartAdditions, type StartState } from '../../src/plugins/types.ts';

const logger = pino({ level: 'silent' });

/** The start state contract from the plugin's side: fd n of the additions is 3 + callerFds + n inside. */
function startState(callerFds = 0): StartState & { readonly calls: string[] } {
  const env: string[] = [];
  const fds: number[] = [];
  const calls: string[] = [];
  return {
    calls,
    addEnvironmentVariable(nameValue) {
      calls.push(`env ${nameValue}`);
      if (!env.includes(nameValue)) env.push(nameValue);
    },
    addFileDescriptor(plugin, fd) {
      calls.push(`fd ${plugin}`);
      fds.push(fd);
      return 3 + callerFds + fds.length - 1;
    },
    addMount() {
      throw new Error('MulticastSockets adds no mounts');
    },
    setRlimit() {
      throw new Error('MulticastSockets sets no rlimits');
    },
    addNamespace() {
      throw new Error('MulticastSockets adds no namespaces');
    },
    renumberDevice() {
      throw new Error('MulticastSockets renumbers no devices');
    },
    addDeviceRule() {
      throw new Error('MulticastSockets adds no device rules');
    },
    addGroup() {
      throw new Error('MulticastSockets adds no groups');
    },
    get additions(): StartAdditions {
      return { env, fds, mounts: [] };
    },
  };
}

function context(id: string, data: unknown, signal = new AbortController().signal): HookContext & { exit: null } {
  return { id, rootfs: `/tmp/${id}/rootfs`, data, logger, signal, exit: null };
}

const data = {
  serverSockets: [{ name: 'SSDP', ip: '239.255.255.250', port: 1900 }, { name: 'mdns', ip: '224.0.0.251', port: 5353 }],
  clientSockets: [{ name: 'SSDP' }],
};

describe('MulticastSockets plugin', () => {
  test('is a sync postConstruction, postStop and preDestruction plugin named MulticastSockets', () => {
    const plugin = createMulticastSocketsPlugin({ driver: new FakeMulticastSockets() });
    assert.equal(plugin.name, 'MulticastSockets');
    assert.equal(plugin.hookHints, HookHint.PostConstructionSync | HookHint.PostStopSync | HookHint.PreDestructionSync);
  });

  test('passes servers then clients in, numbering after the caller\'s fds, and names each in env', async () => {
    const driver = new FakeMulticastSockets();
    const plugin = createMulticastSocketsPlugin({ driver });
    const state = startState(2);
    await plugin.postConstruction!(context('c1', data), state);
    assert.deepEqual(state.additions.fds, driver.sockets.map((s) => s.fd));
    assert.deepEqual(driver.sockets.map((s) => [s.kind, s.local.address, s.local.port]),
      [['server', '239.255.255.250', 1900], ['server', '224.0.0.251', 5353], ['client', '0.0.0.0', 40002]]);
    assert.deepEqual(state.additions.env, ['MCAST_SERVER_SOCKET_SSDP_FD=5', 'MCAST_SERVER_SOCKET_mdns_FD=6', 'MCAST_CLIENT_SOCKET_SSDP_FD=7']);
    assert.deepEqual(state.calls.filter((c) => c.startsWith('fd')), Array(3).fill(`fd ${MULTICAST_SOCKETS_PLUGIN}`));
    assert.deepEqual(plugin.passed('c1').map((p) => [p.env, p.containerFd]),
      [['MCAST_SERVER_SOCKET_SSDP_FD', 5], ['MCAST_SERVER_SOCKET_mdns_FD', 6], ['MCAST_CLIENT_SOCKET_SSDP_FD', 7]]);
    assert.equal(driver.open.length, 3);
    await plugin.postStop!(context('c1', data));
    assert.equal(driver.open.length, 0);
    assert.deepEqual(plugin.passed('c1'), []);
  });

  test('closing is per container and idempotent: postStop, then preDestruction, then again', async () => {
    const driver = new FakeMulticastSockets();
    const plugin = createMulticastSocketsPlugin({ driver });
    await plugin.postConstruction!(context('a', data), startState());
    await plugin.postConstruction!(context('b', { clientSockets: [{ name: 'x' }] }), startState());
    assert.equal(driver.open.length, 4);
    await plugin.postStop!(context('a', data));
    assert.deepEqual(driver.open.map((s) => s.kind), ['client']);
    await plugin.preDestruction!(context('a', data));
    await plugin.postStop!(context('a', data));
    assert.equal(driver.open.length, 1);
    assert.equal(plugin.passed('b').length, 1);
    // A start that failed after postConstruction gets only preDestruction.
    await plugin.preDestruction!(context('b', null));
    assert.equal(driver.open.length, 0);
    await plugin.preDestruction!(context('never-started', null));
  });

  test('no data, or empty lists: nothing opened, nothing added', async () => {
    const driver = new FakeMulticastSockets();
    const plugin = createMulticastSocketsPlugin({ driver });
    for (const d of [null, {}, { serverSockets: [], clientSockets: [] }]) {
      const state = startState();
      await plugin.postConstruction!(context('empty', d), state);
      assert.deepEqual(state.calls, []);
    }
    assert.equal(driver.sockets.length, 0);
  });

  test('invalid data fails postConstruction with INVALID_ARGUMENT naming container and field; nothing is opened', async () => {
    const driver = new FakeMulticastSockets();
    const plugin = createMulticastSocketsPlugin({ driver });
    const state = startState();
    const bad = { serverSockets: [{ name: 'ok', ip: '239.1.1.1', port: 1 }, { name: 'lan', ip: '192.168.1.1', port: 1900 }] };
    await assert.rejects(async () => plugin.postConstruction!(context('bad1', bad), state), (err: DobbyError) => {
      assert.ok(err instanceof DobbyError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.containerId, 'bad1');
      assert.equal(err.message, "MulticastSockets plugin data for container 'bad1': serverSockets[1].ip \"192.168.1.1\" is not a multicast address; it must be in 224.0.0.0/4 (224.0.0.0 to 239.255.255.255)");
      return true;
    });
    assert.equal(driver.sockets.length, 0);
    assert.deepEqual(state.calls, []);
  });

  test('a socket that cannot be opened closes the ones before it and adds nothing', async () => {
    const driver = new FakeMulticastSockets({
      failOpen: (n) => (n === 2 ? new DobbyError('HOST_UNSUITABLE', 'client socket: EMFILE') : undefined),
    });
    const plugin = createMulticastSocketsPlugin({ driver });
    const state = startState();
    await assert.rejects(async () => plugin.postConstruction!(context('fails', data), state), (err: DobbyError) => {
      assert.equal(err.code, 'HOST_UNSUITABLE');
      assert.equal(err.containerId, 'fails');
      assert.equal(err.message, "MulticastSockets for container 'fails': client socket: EMFILE");
      return true;
    });
    assert.equal(driver.sockets.length, 2);
    assert.equal(driver.open.length, 0);
    assert.deepEqual(state.calls, []);
    assert.deepEqual(plugin.passed('fails'), []);
  });

  test('a hook given up (aborted) while opening hands nothing over and leaves nothing open', async () => {
    const abort = new AbortController();
    const driver = new FakeMulticastSockets({ failOpen: (n) => { if (n === 1) abort.abort(); return undefined; } });
    const plugin = createMulticastSocketsPlugin({ driver });
    const state = startState();
    await assert.rejects(async () => plugin.postConstruction!(context('slow', data, abort.signal), state), { code: 'ABORTED', containerId: 'slow' });
    assert.equal(driver.open.length, 0);
    assert.deepEqual(state.calls, []);
  });

  test('a second postConstruction for the same id replaces the sockets of the first', async () => {
    const driver = new FakeMulticastSockets();
    const plugin = createMulticastSocketsPlugin({ driver });
    await plugin.postConstruction!(context('again', data), startState());
    const first = driver.sockets.slice();
    await plugin.postConstruction!(context('again', { clientSockets: [{ name: 'c' }] }), startState());
    assert.ok(first.every((s) => s.closed));
    assert.equal(driver.open.length, 1);
    assert.equal(plugin.passed('again').length, 1);
  });

  test('property: whatever the data and wherever opening fails, teardown leaves no socket open', async () => {
    const entries = fc.record({
      serverSockets: fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[A-Z]{1,3}$/), ip: fc.constantFrom('239.1.1.1', '10.0.0.1'), port: fc.integer({ min: 0, max: 3 }) }), { selector: (s) => s.name, maxLength: 4 }),
      clientSockets: fc.array(fc.record({ name: fc.stringMatching(/^[a-c]$/) }), { maxLength: 4 }),
    });
    await fc.assert(fc.asyncProperty(entries, fc.option(fc.nat(8)), fc.integer({ min: 0, max: 3 }), fc.boolean(), async (d, failAt, callerFds, stopFirst) => {
      const driver = new FakeMulticastSockets({ failOpen: (n) => (n === failAt ? new Error('no socket') : undefined) });
      const plugin = createMulticastSocketsPlugin({ driver });
      const state = startState(callerFds);
      let ok = true;
      try {
        await plugin.postConstruction!(context('p', d), state);
      } catch (err) {
        ok = false;
        assert.ok(err instanceof Error);
        assert.equal(driver.open.length, 0, 'a failed postConstruction leaves nothing open');
        assert.deepEqual(state.calls, []);
      }
      if (ok) {
        const passed = plugin.passed('p');
        assert.equal(passed.length, d.serverSockets.length + d.clientSockets.length);
        assert.deepEqual(state.additions.fds, passed.map((p) => p.socket.fd));
        assert.deepEqual(state.additions.env, passed.map((p, i) => `${p.env}=${3 + callerFds + i}`));
        assert.equal(driver.open.length, passed.length);
      }
      if (stopFirst) await plugin.postStop!(context('p', d));
      await plugin.preDestruction!(context('p', d));
      assert.equal(driver.open.length, 0);
    }), { numRuns: 200 });
  });
});
