// The launch config derivation (pure): Dobby's per-launch overrides, plugin additions and the init of Dobby bundles.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DobbyError } from '../../src/errors.ts';
import {
  DOBBY_INIT, PLACED_INIT_NAME, WESTEROS_DESTINATION, deriveLaunchConfig, type InitFacts, type JsonObject, type LaunchInput,
} from '../../src/drivers/bundles/launch-config.ts';

const TINI = '/usr/bin/tini-static';
const hostHasInit: InitFacts = { hostDobbyInit: DOBBY_INIT, containerInit: TINI, rootfsHasDobbyInit: false };
const hostLacksInit: InitFacts = { hostDobbyInit: null, containerInit: TINI, rootfsHasDobbyInit: false };

function config(extra: JsonObject = {}): JsonObject {
  return {
    ociVersion: '1.0.0',
    process: { user: { uid: 0, gid: 0 }, args: ['/bin/sleep', '10'], env: ['PATH=/bin'], cwd: '/' },
    root: { path: 'rootfs' },
    hostname: 'h',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['newinstance', 'gid=5', 'mode=0620'] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
    ...extra,
  };
}

function derive(input: Partial<LaunchInput> & { config: JsonObject }) {
  return deriveLaunchConfig({ id: 'c1', init: hostHasInit, ...input });
}

type Cfg = { process: { args: string[]; env: string[] }; mounts: { destination: string; source: string; type: string; options?: string[] }[]; linux: Record<string, unknown>; hostname: string; ociVersion: string; hooks?: Record<string, unknown> };

describe('launch config', () => {
  test('nothing asked: the bundle config is used as it is', () => {
    const c = config();
    const out = derive({ config: c });
    assert.equal(out.changed, false);
    assert.deepEqual(out.config, c);
    assert.deepEqual(out.notes, []);
  });

  test('command: args become the init followed by the command', () => {
    const out = derive({ config: config(), overrides: { command: ['sh', '-c', 'echo hi'] }, init: { ...hostHasInit, rootfsHasDobbyInit: true } });
    assert.equal(out.changed, true);
    assert.deepEqual((out.config as Cfg).process.args, [DOBBY_INIT, 'sh', '-c', 'echo hi']);
    // A rootfs without DobbyInit gets the host's, mounted where no write into the rootfs is needed.
    const placed = derive({ config: config(), overrides: { command: ['sh'] }, init: hostHasInit }).config as Cfg;
    assert.deepEqual(placed.process.args, [`/dev/${PLACED_INIT_NAME}`, 'sh']);
    assert.equal(placed.mounts.at(-1)?.source, DOBBY_INIT);
  });

  test('env: appended only when the exact entry is not there; the caller config is not touched', () => {
    const c = config();
    const before = JSON.stringify(c);
    const out = derive({ config: c, overrides: { env: ['PATH=/bin', 'A=1', 'A=1', 'PATH=/usr/bin'] } });
    assert.deepEqual((out.config as Cfg).process.env, ['PATH=/bin', 'A=1', 'PATH=/usr/bin']);
    assert.equal(JSON.stringify(c), before);
  });

  test('westeros socket: bind mount at /tmp/westeros and the Wayland env', () => {
    const out = derive({ config: config(), overrides: { displaySocket: '/run/wst.sock' } });
    const cfg = out.config as Cfg;
    const mount = cfg.mounts.find((m) => m.destination === WESTEROS_DESTINATION);
    assert.deepEqual(mount, { destination: '/tmp/westeros', type: 'bind', source: '/run/wst.sock', options: ['bind', 'rw', 'nosuid', 'nodev', 'noexec'] });
    assert.ok(cfg.process.env.includes('WAYLAND_DISPLAY=westeros'));
    assert.ok(cfg.process.env.includes('XDG_RUNTIME_DIR=/tmp'));
  });

  test('uid/gid: both > 0 and no mappings give size-1 maps, a user namespace, and devpts without an unmapped gid', () => {
    const out = derive({ config: config(), overrides: { userId: 1234, groupId: 2345 } });
    const cfg = out.config as Cfg;
    assert.deepEqual(cfg.linux['uidMappings'], [{ containerID: 0, hostID: 1234, size: 1 }]);
    assert.deepEqual(cfg.linux['gidMappings'], [{ containerID: 0, hostID: 2345, size: 1 }]);
    assert.ok((cfg.linux['namespaces'] as { type: string }[]).some((n) => n.type === 'user'));
    assert.deepEqual(cfg.mounts.find((m) => m.type === 'devpts')?.options, ['newinstance', 'mode=0620']);
  });

  test('uid/gid: ignored (with a note) when only one is given or the config has mappings', () => {
    const one = derive({ config: config(), overrides: { userId: 1234 } });
    assert.equal(one.changed, false);
    assert.match(one.notes.join(), /both must be > 0/);
    const mapped = config({ linux: { namespaces: [{ type: 'user' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] } });
    const kept = derive({ config: mapped, overrides: { userId: 1234, groupId: 2345 } });
    assert.equal(kept.changed, false);
    assert.match(kept.notes.join(), /already has uid\/gid mappings/);
  });

  test('plugin additions: env and mounts appended, env before the caller overrides', () => {
    const mount = { destination: '/run/x', type: 'bind', source: '/tmp/x', options: ['bind'] };
    const out = derive({ config: config(), additions: { env: ['P=1'], mounts: [mount] }, overrides: { env: ['P=1', 'Q=2'] } });
    const cfg = out.config as Cfg;
    assert.deepEqual(cfg.process.env, ['PATH=/bin', 'P=1', 'Q=2']);
    assert.deepEqual(cfg.mounts.at(-1), mount);
  });

  test('plugin device numbers: the linux.devices entry at the path and the first rule with its old numbers follow; others are left', () => {
    const base = config({
      linux: {
        devices: [{ path: '/dev/a', type: 'c', major: 1, minor: 3 }, { path: '/dev/b', type: 'c', major: 7, minor: 7 }],
        resources: { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'm' }] },
      },
    });
    const devices = [{ path: '/dev/a', major: 240, minor: 0 }, { path: '/dev/b', major: 7, minor: 7 }, { path: '/dev/none', major: 1, minor: 1 }];
    const derived = derive({ config: base, additions: { env: [], mounts: [], devices } });
    const out = derived.config as { linux: { devices: unknown[]; resources: { devices: unknown[] } } };
    assert.deepEqual(out.linux.devices, [{ path: '/dev/a', type: 'c', major: 240, minor: 0 }, { path: '/dev/b', type: 'c', major: 7, minor: 7 }]);
    assert.deepEqual(out.linux.resources.devices, [
      { allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 240, minor: 0, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'm' },
    ]);
    assert.ok(derived.notes.some((n) => n === 'device /dev/a: 1:3 is 240:0 on this host'));
    assert.equal((base as { linux: { devices: { major: number }[] } }).linux.devices[0]!.major, 1, 'the input config was changed');
  });

  test('plugin device rules are appended; groups join additionalGids, mapped to themselves in a user namespace unless mapped already', () => {
    const rule = { allow: true, type: 'c', major: 13, minor: 64, access: 'rw' };
    const plain = derive({ config: config(), additions: { env: [], mounts: [], deviceRules: [rule], groups: [991] } });
    const p = plain.config as { process: { user: { additionalGids: number[] } }; linux: { resources: { devices: unknown[] }; gidMappings?: unknown } };
    assert.deepEqual(p.linux.resources.devices.at(-1), rule);
    assert.deepEqual(p.process.user.additionalGids, [991]);
    assert.equal(p.linux.gidMappings, undefined);
    const userns = config({ linux: { gidMappings: [{ containerID: 0, hostID: 1000, size: 10 }] } });
    const mapped = derive({ config: userns, additions: { env: [], mounts: [], groups: [991, 5] } });
    const m = mapped.config as { process: { user: { additionalGids: number[] } }; linux: { gidMappings: unknown[] } };
    assert.deepEqual(m.process.user.additionalGids, [991, 5]);
    assert.deepEqual(m.linux.gidMappings, [{ containerID: 0, hostID: 1000, size: 10 }, { containerID: 991, hostID: 991, size: 1 }]);
    assert.ok(mapped.notes.includes('group 5: the config maps that gid inside already; not mapped to host gid 5'));
  });

  test('plugin rlimits replace the config\'s entry of their type, or are appended', () => {
    const base = config({ process: { args: ['/bin/true'], cwd: '/', rlimits: [{ type: 'RLIMIT_RTPRIO', soft: 0, hard: 0 }, { type: 'RLIMIT_NOFILE', soft: 9, hard: 9 }] } });
    const rlimits = [{ type: 'RLIMIT_RTPRIO', soft: 6, hard: 6 }, { type: 'RLIMIT_NICE', soft: 1, hard: 1 }];
    const out = derive({ config: base, additions: { env: [], mounts: [], rlimits } }).config as { process: { rlimits: unknown[] } };
    assert.deepEqual(out.process.rlimits, [{ type: 'RLIMIT_RTPRIO', soft: 6, hard: 6 }, { type: 'RLIMIT_NOFILE', soft: 9, hard: 9 }, { type: 'RLIMIT_NICE', soft: 1, hard: 1 }]);
    const none = derive({ config: config(), additions: { env: [], mounts: [], rlimits: [{ type: 'RLIMIT_RTPRIO', soft: 3, hard: 3 }] } }).config as { process: { rlimits: unknown[] } };
    assert.deepEqual(none.process.rlimits, [{ type: 'RLIMIT_RTPRIO', soft: 3, hard: 3 }]);
  });

  test('plugin namespaces: added when the config has none of the type, a joined one (by path) kept; a mount the config has is not made twice', () => {
    const resolv = { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['ro', 'rbind'] };
    const out = derive({ config: config(), additions: { env: [], mounts: [resolv], namespaces: ['network', 'pid'] } });
    const cfg = out.config as Cfg;
    assert.deepEqual(cfg.linux['namespaces'], [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }]);
    assert.match(out.notes.join(), /a network namespace of its own/);
    const joined = config({ linux: { namespaces: [{ type: 'network', path: '/run/netns/x' }] }, mounts: [{ ...resolv, destination: '/etc/resolv.conf/' }] });
    const again = derive({ config: joined, additions: { env: [], mounts: [resolv], namespaces: ['network'] } }).config as Cfg;
    assert.deepEqual(again.linux['namespaces'], [{ type: 'network', path: '/run/netns/x' }]);
    assert.equal(again.mounts.filter((m) => m.source === '/etc/resolv.conf').length, 1);
  });

  test('Dobby bundle versions: hostname becomes the id, 1.0.2-dobby becomes 1.0.2, launcher hooks are left out', () => {
    const hook = { path: '/usr/bin/DobbyPluginLauncher', args: ['DobbyPluginLauncher', '-h', 'createRuntime', '-c', '/b/config.json'] };
    const other = { path: '/bin/true', args: ['true'] };
    const out = derive({ config: config({ ociVersion: '1.0.2-dobby', hooks: { createRuntime: [hook, other], poststop: [hook] }, linux: { namespaces: [{ type: 'uts' }] } }) });
    const cfg = out.config as Cfg;
    assert.equal(cfg.ociVersion, '1.0.2');
    assert.equal(cfg.hostname, 'c1');
    assert.deepEqual(cfg.hooks, { createRuntime: [other] });
    assert.match(out.notes.join(), /2 DobbyPluginLauncher hook/);
  });

  test("the hostname becomes the id only in a UTS namespace of the container's own", () => {
    const withUts = config({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, { type: 'uts' }] } });
    assert.equal((derive({ config: withUts }).config as Cfg).hostname, 'c1');
    const hostUts = config({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }] } });
    assert.equal((derive({ config: hostUts }).config as Cfg).hostname, 'h');
    const joined = config({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'uts', path: '/proc/1/ns/uts' }] } });
    assert.equal((derive({ config: joined }).config as Cfg).hostname, 'h');
  });

  describe('the init of Dobby bundles', () => {
    const withInitMount = (): JsonObject => {
      const c = config();
      (c['process'] as { args: string[] }).args = [DOBBY_INIT, 'sleep', '10'];
      (c['mounts'] as unknown[]).push({ destination: DOBBY_INIT, type: 'bind', source: DOBBY_INIT, options: ['bind', 'ro'] });
      return c;
    };

    test('the host has DobbyInit: a bundle mounting it runs unchanged', () => {
      assert.equal(derive({ config: withInitMount(), init: hostHasInit }).changed, false);
    });

    test('the host lacks DobbyInit: the mount source becomes our init; args stay', () => {
      const out = derive({ config: withInitMount(), init: hostLacksInit });
      const cfg = out.config as Cfg;
      assert.equal(cfg.mounts.find((m) => m.destination === DOBBY_INIT)?.source, TINI);
      // tini parses options: the command follows a `--` so that e.g. `sh -c` reaches sh.
      assert.deepEqual(cfg.process.args, [DOBBY_INIT, '--', 'sleep', '10']);
      assert.match(out.notes.join(), /no \/usr\/libexec\/DobbyInit/);
    });

    test('no mount and none in the rootfs: our init is mounted into the /dev tmpfs and args[0] points there', () => {
      const out = derive({ config: config(), overrides: { command: ['echo', 'x'] }, init: hostLacksInit });
      const cfg = out.config as Cfg;
      const placed = `/dev/${PLACED_INIT_NAME}`;
      assert.deepEqual(cfg.process.args, [placed, '--', 'echo', 'x']);
      const mount = cfg.mounts.find((m) => m.destination === placed);
      assert.equal(mount?.source, TINI);
      assert.ok(cfg.mounts.indexOf(mount!) > cfg.mounts.findIndex((m) => m.destination === '/dev'), 'mounted after the tmpfs it lives in');
    });

    test("a host whose DobbyInit is a copy of dobbyd's init gets the `--` too; Dobby's own DobbyInit does not", () => {
      const ours = derive({ config: withInitMount(), init: { ...hostHasInit, hostDobbyInitIsOurs: true } });
      assert.deepEqual((ours.config as Cfg).process.args, [DOBBY_INIT, '--', 'sleep', '10']);
      assert.equal(derive({ config: withInitMount(), init: { ...hostHasInit, hostDobbyInitIsOurs: false } }).changed, false);
      const already = withInitMount();
      (already['process'] as { args: string[] }).args = [DOBBY_INIT, '--', 'sleep', '10'];
      assert.deepEqual((derive({ config: already, init: hostLacksInit }).config as Cfg).process.args, [DOBBY_INIT, '--', 'sleep', '10']);
    });

    test('a spec bundle (our init mounted at DobbyInit) with a command override keeps the `--`', () => {
      const c = withInitMount();
      (c['mounts'] as { destination: string; source: string }[]).at(-1)!.source = TINI;
      const out = derive({ config: c, overrides: { command: ['sh', '-c', 'true'] }, init: hostHasInit });
      assert.deepEqual((out.config as Cfg).process.args, [DOBBY_INIT, '--', 'sh', '-c', 'true']);
    });

    test('the rootfs has its own DobbyInit: nothing is mounted', () => {
      const out = derive({ config: config(), overrides: { command: ['echo'] }, init: { ...hostLacksInit, rootfsHasDobbyInit: true } });
      assert.deepEqual((out.config as Cfg).process.args, [DOBBY_INIT, 'echo']);
      assert.equal((out.config as Cfg).mounts.length, 3);
    });

    test('nowhere to place the init: a BUNDLE_INVALID error saying what to add', () => {
      const c = config({ mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }] });
      assert.throws(() => derive({ config: c, overrides: { command: ['echo'] }, init: hostLacksInit }), (err: DobbyError) => {
        assert.equal(err.code, 'BUNDLE_INVALID');
        assert.match(err.message, /add a bind mount of \/usr\/libexec\/DobbyInit or a tmpfs/);
        return true;
      });
    });
  });

  test('property: the input is never modified, env entries are unique additions, and no inputs means no change', () => {
    const word = fc.stringMatching(/^[A-Z]{1,3}=[a-z0-9]{0,3}$/);
    fc.assert(
      fc.property(
        fc.array(word, { maxLength: 6 }),
        fc.array(word, { maxLength: 6 }),
        fc.option(fc.array(fc.stringMatching(/^[a-z]{1,5}$/), { minLength: 1, maxLength: 4 }), { nil: undefined }),
        fc.boolean(),
        (existing, extra, command, lacksInit) => {
          const c = config();
          (c['process'] as { env: string[] }).env = [...existing];
          const frozen = JSON.stringify(c);
          const out = derive({ config: c, overrides: { env: extra, ...(command === undefined ? {} : { command }) }, init: lacksInit ? hostLacksInit : hostHasInit });
          assert.equal(JSON.stringify(c), frozen);
          const env = (out.config as Cfg).process.env;
          assert.deepEqual(env.slice(0, existing.length), existing);
          for (const e of extra) assert.ok(env.includes(e));
          assert.equal(env.length, existing.length + new Set(extra.filter((e) => !existing.includes(e))).size);
          const expectChange = command !== undefined || extra.some((e) => !existing.includes(e));
          assert.equal(out.changed, expectChange);
        },
      ),
    );
  });
});

describe('the monitor\'s own bundle dir', () => {
  test('root.path and relative bind sources are anchored to the caller bundle; the rest is kept, and the config given is not changed', async () => {
    const { anchorToBundle } = await import('../../src/drivers/monitor/shadow-bundle.ts');
    const given = {
      root: { path: 'rootfs', readonly: true },
      mounts: [
        { destination: '/a', type: 'bind', source: 'data', options: ['bind'] },
        { destination: '/b', type: 'none', source: 'more', options: ['rbind', 'ro'] },
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/c', type: 'bind', source: '/abs', options: ['bind'] },
      ],
    };
    const before = structuredClone(given);
    const out = anchorToBundle(given, '/srv/b');
    assert.deepEqual(given, before, 'the config given was changed');
    assert.deepEqual(out, {
      root: { path: '/srv/b/rootfs', readonly: true },
      mounts: [
        { destination: '/a', type: 'bind', source: '/srv/b/data', options: ['bind'] },
        { destination: '/b', type: 'none', source: '/srv/b/more', options: ['rbind', 'ro'] },
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/c', type: 'bind', source: '/abs', options: ['bind'] },
      ],
    });
  });
});

test("Dobby's settings pids limit: given to a bundle whose config has none, never over one it has", () => {
  const out = deriveLaunchConfig({ id: 'c1', init: hostHasInit, config: config(), defaultPidsLimit: 256 });
  assert.equal(out.changed, true);
  assert.deepEqual((out.config as Cfg).linux['resources'], { pids: { limit: 256 } });
  const own = config({ linux: { namespaces: [{ type: 'pid' }], resources: { pids: { limit: 10 }, memory: { limit: 1 } } } });
  assert.deepEqual((deriveLaunchConfig({ id: 'c1', init: hostHasInit, config: own, defaultPidsLimit: 256 }).config as Cfg).linux['resources'], { pids: { limit: 10 }, memory: { limit: 1 } });
  assert.equal(deriveLaunchConfig({ id: 'c1', init: hostHasInit, config: config(), defaultPidsLimit: null }).changed, false);
  // A malformed section stays as it is, for the runtime to refuse.
  for (const linux of [5, { resources: 'x' }, { resources: [] }]) {
    assert.deepEqual((deriveLaunchConfig({ id: 'c1', init: hostHasInit, config: config({ linux }), defaultPidsLimit: 256 }).config as Cfg).linux, linux);
  }
  // No linux section at all (no namespaces): not made up here, so the runtime's answer to such a config stands.
  const bare = config();
  delete bare['linux'];
  assert.equal(deriveLaunchConfig({ id: 'c1', init: hostHasInit, config: bare, defaultPidsLimit: 256 }).config['linux'], undefined);
});

describe('reading a bundle config', () => {
  test('a config.json rewritten between two reads (same size) is read anew, however soon after', async () => {
    const { mkdtemp, mkdir, rm, utimes, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readBundleConfig } = await import('../../src/drivers/bundles/bundle-config.ts');
    const bundle = await mkdtemp(join(tmpdir(), 'dobby-config-read-'));
    try {
      await mkdir(join(bundle, 'rootfs'));
      const config = (arg: string) => JSON.stringify({ root: { path: 'rootfs' }, process: { args: [arg] } });
      await writeFile(join(bundle, 'config.json'), config('/bin/aaa'));
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/aaa'] });
      await writeFile(join(bundle, 'config.json'), config('/bin/bbb'));
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/bbb'] });
      // A config last changed a while ago is the kind kept between reads; its next change still counts.
      await utimes(join(bundle, 'config.json'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      await new Promise((resolve) => setTimeout(resolve, 2100)); // ctime too must be settled for it to be kept
      // Each read gives a config of its own: a caller changing it changes nobody else's.
      const first = await readBundleConfig(bundle);
      (first.config['process'] as { args: string[] }).args.push('changed');
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/bbb'] });
      await writeFile(join(bundle, 'config.json'), config('/bin/ccc'));
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/ccc'] });
    } finally {
      await rm(bundle, { recursive: true, force: true });
    }
  });

  test('a config the daemon wrote into a bundle of its own is read from memory, its own copy each time, until the bundle is forgotten', async () => {
    const { mkdtemp, mkdir, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { forgetOwnConfig, readBundleConfig, readConfigJson, writeOwnConfig } = await import('../../src/drivers/bundles/bundle-config.ts');
    const bundle = await mkdtemp(join(tmpdir(), 'dobby-own-config-'));
    const path = join(bundle, 'config.json');
    try {
      await mkdir(join(bundle, 'rootfs'));
      const config = (arg: string) => JSON.stringify({ root: { path: 'rootfs' }, process: { args: [arg] } });
      await writeOwnConfig(path, config('/bin/own'));
      // Only the daemon writes its bundles: a change behind its back is not looked for.
      await writeFile(path, config('/bin/behind'));
      const first = await readBundleConfig(bundle);
      assert.deepEqual(first.config['process'], { args: ['/bin/own'] });
      (first.config['process'] as { args: string[] }).args.push('changed');
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/own'] });
      assert.deepEqual((await readConfigJson(bundle) as { process: unknown }).process, { args: ['/bin/own'] });
      forgetOwnConfig(path);
      assert.deepEqual((await readBundleConfig(bundle)).config['process'], { args: ['/bin/behind'] });
    } finally {
      await rm(bundle, { recursive: true, force: true });
    }
  });
});
