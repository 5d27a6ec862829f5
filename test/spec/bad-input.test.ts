// Bad specs: each is rejected with errors that name the field and say what would be right, never an exception.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { parseSpec, specErrorsToDobbyError, specToOci } from '../../src/spec/index.ts';
import { HOST, parseErrors, parseOk, specText } from './helpers.ts';

function messages(text: string): string[] {
  return parseErrors(text).map((e) => e.message);
}

function paths(text: string): string[] {
  return parseErrors(text).map((e) => e.path);
}

describe('whole-document problems', () => {
  test('malformed JSON says where', () => {
    const [error, ...rest] = parseErrors('{\n  "version": "1.0",\n  "args": [\n}');
    assert.equal(rest.length, 0);
    assert.equal(error!.code, 'SYNTAX');
    assert.match(error!.message, /^the spec is not valid JSON: .* at line 4, column 1$/);
  });

  test('empty text, and JSON that is not an object', () => {
    assert.match(messages('')[0]!, /the spec is empty/);
    assert.match(messages('[1, 2]')[0]!, /expected the spec to be a JSON object, got an array/);
    assert.match(messages('null')[0]!, /got null/);
    assert.match(messages('"1.0"')[0]!, /got a string/);
  });

  test('1 MiB of junk gives one clear error', () => {
    const junk = randomBytes(1024 * 1024).toString('latin1');
    const errors = parseErrors(junk);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'SYNTAX');
    assert.match(errors[0]!.message, /^the spec is not valid JSON: /);
    assert.ok(errors[0]!.message.length < 200, 'the input is not echoed back');
  });

  test('1 MiB of valid JSON that is not a spec', () => {
    const big = JSON.stringify({ junk: 'x'.repeat(1024 * 1024) });
    assert.deepEqual(paths(big).sort(), ['args', 'memLimit', 'user', 'version']);
  });

  test('too large, and too deeply nested', () => {
    assert.equal(parseErrors(' '.repeat(5 * 1024 * 1024))[0]!.code, 'TOO_LARGE');
    const deep = specText({ rdkPlugins: { x: { data: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) } } });
    assert.match(messages(deep)[0]!, /nested more than 64 levels/);
    const deeper = '['.repeat(500_000) + ']'.repeat(500_000);
    assert.equal(parseErrors(deeper)[0]!.code, 'TOO_LARGE');
  });

  test('a flood of problems is counted, not listed', () => {
    const env = Array.from({ length: 100_000 }, (_, i) => `BAD${i}`);
    const extra = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
    const r = parseSpec(specText({ env, ...extra }));
    assert.ok(!r.ok);
    assert.equal(r.errors.length, 51);
    assert.equal(r.errors[50]!.message, '... and 99950 more problems');
    assert.equal(r.warnings.length, 51);
    assert.equal(r.warnings[50], '... and 99950 more warnings');
  });

  test('not a string at all', () => {
    assert.match(parseErrors(42 as unknown as string)[0]!.message, /expected the spec as JSON text/);
  });
});

describe('required fields', () => {
  test('each missing field is named, all at once', () => {
    const errors = parseErrors('{}');
    assert.deepEqual(errors.map((e) => e.path).sort(), ['args', 'memLimit', 'user', 'version']);
    assert.ok(errors.every((e) => e.code === 'MISSING'));
    assert.ok(errors.some((e) => e.message === 'memLimit: required; give the memory limit in bytes, e.g. 41943040 for 40 MiB'));
  });

  test('a key in the wrong case is pointed out', () => {
    const text = JSON.stringify({ version: '1.0', args: ['x'], user: { uid: 1, gid: 1 }, memlimit: 1048576 });
    assert.deepEqual(messages(text), ["memLimit: required (found 'memlimit': field names are case-sensitive)"]);
  });

  test('user.uid and user.gid are required', () => {
    assert.deepEqual(paths(specText({ user: {} })).sort(), ['user.gid', 'user.uid']);
  });
});

describe('wrong types', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['version', { version: 1.0 }, /^version: expected "1.0" or "1.1", got a number \(1\)$/],
    ['version', { version: '2.0' }, /^version: '2.0' is not a spec version; use "1.0" or "1.1"$/],
    ['args', { args: 'sleep 1' }, /^args: expected an array of strings, got a string/],
    ['args[1]', { args: ['sleep', 1] }, /^args\[1\]: expected a string, got a number \(1\)$/],
    ['user', { user: [1000, 1000] }, /^user: expected an object like/],
    ['user.uid', { user: { uid: '1000', gid: 1000 } }, /^user\.uid: expected an integer \(1\.\.65534\), got a string/],
    ['user.gid', { user: { uid: 1000, gid: 1.5 } }, /^user\.gid: expected an integer/],
    ['memLimit', { memLimit: '40M' }, /^memLimit: expected an integer/],
    ['swapLimit', { swapLimit: true }, /^swapLimit: expected an integer/],
    ['userNs', { userNs: 'yes' }, /^userNs: expected true, false or null/],
    ['env[0]', { env: [42] }, /^env\[0\]: expected a string/],
    ['cwd', { cwd: 7 }, /^cwd: expected an absolute path/],
    ['console', { console: '/tmp/log' }, /^console: expected null or an object/],
    ['console.limit', { console: { path: '/tmp/x', limit: 'big' } }, /^console\.limit: expected an integer/],
    ['network', { network: 1 }, /^network: expected "nat", "open", "private" or null/],
    ['mounts', { mounts: {} }, /^mounts: expected an array of mount objects/],
    ['mounts[0].options[1]', { mounts: [{ source: '/a', destination: '/a', type: 'bind', options: ['ro', 2] }] }, /expected a string/],
    ['cpu.shares', { cpu: { shares: '50' } }, /^cpu\.shares: expected an integer \(1\.\.100\)/],
    ['cpu.cores', { cpu: { cores: [0, 1] } }, /^cpu\.cores: expected a CPU list like "0-1,3"/],
    ['rtPriority', { rtPriority: { default: 4 } }, /^rtPriority: version 1\.0 specs take an integer/],
    ['rtPriority', { version: '1.1', rtPriority: 4 }, /^rtPriority: expected an object like/],
    ['gpu.enable', { gpu: { enable: 'true' } }, /^gpu\.enable: expected true, false or null/],
    ['vpu', { vpu: true }, /^vpu: expected an object/],
    ['dbus.system', { dbus: { system: 'bus' } }, /^dbus\.system: 'bus' is not a bus; use "system", "ai-public" or "ai-private"$/],
    ['syslog', { syslog: 'on' }, /^syslog: expected true, false or null/],
    ['devices[0].access', { devices: [{ major: 13, minor: 64, access: 'x' }] }, /^devices\[0\]\.access: 'x' is not an access mode/],
    ['capabilities', { capabilities: 'CAP_NET_RAW' }, /^capabilities: expected an array of capability names/],
    ['seccomp.syscalls', { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] } }, /^seccomp\.syscalls: expected an object/],
    ['seccomp.defaultAction', { seccomp: { defaultAction: 'SCMP_ACT_KILL', syscalls: { names: ['x'], action: 'SCMP_ACT_ERRNO' } } },
      /not supported; use "SCMP_ACT_ALLOW" or "SCMP_ACT_ERRNO"/],
    ['etc.hosts', { etc: { hosts: '127.0.0.1 localhost' } }, /^etc\.hosts: expected an array of strings/],
    ['restartOnCrash', { restartOnCrash: 1 }, /^restartOnCrash: expected true, false or null/],
    ['plugins[0].name', { plugins: [{ data: {} }] }, /^plugins\[0\]\.name: expected the plugin name as a string/],
    ['rdkPlugins.logging.data', { rdkPlugins: { logging: { data: [] } } }, /^rdkPlugins\.logging\.data: expected an object/],
    ['rdkPlugins.x.required', { rdkPlugins: { x: { required: 'yes' } } }, /^rdkPlugins\.x\.required: expected true or false/],
  ];
  for (const [path, extra, pattern] of cases) {
    test(path, () => {
      const errors = parseErrors(specText(extra));
      const hit = errors.find((e) => e.path === path);
      assert.ok(hit, `no error for ${path}; got ${errors.map((e) => e.message).join(' | ')}`);
      assert.match(hit.message, pattern);
    });
  }
});

describe('values that are wrong', () => {
  test('uid 0', () => {
    assert.deepEqual(messages(specText({ user: { uid: 0, gid: 0 } })),
      ['user.uid: 0 is not allowed; containers run as a non-root user (1..65534)']);
  });

  test('uid and gid out of range', () => {
    assert.deepEqual(messages(specText({ user: { uid: 65535, gid: -1 } })), [
      'user.uid: 65535 is out of range; containers run as a non-root user (1..65534)',
      'user.gid: -1 is out of range; use a gid in 0..65534',
    ]);
  });

  test('swapLimit below memLimit', () => {
    const errors = parseErrors(specText({ memLimit: 2000, swapLimit: 1000 }));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.path, 'swapLimit');
    assert.match(errors[0]!.message, /^swapLimit \(1000\) must be >= memLimit \(2000\)/);
  });

  test('memLimit zero or negative', () => {
    assert.match(messages(specText({ memLimit: 0 }))[0]!, /^memLimit: 0 is out of range; give the limit in bytes/);
    assert.match(messages(specText({ memLimit: -5 }))[0]!, /^memLimit: -5 is out of range/);
  });

  test('a low memLimit is accepted with a warning, as Dobby does', () => {
    assert.match(parseOk(specText({ memLimit: 2000 })).warnings[0]!, /^memLimit \(2000\) is below 256 KiB/);
  });

  test('unknown capability, in either form', () => {
    const errors = parseErrors(specText({ capabilities: ['CAP_NET_RAW', 'CAP_FOO'] }));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'UNKNOWN_NAME');
    assert.match(errors[0]!.message, /^capabilities\[1\]: unknown capability 'CAP_FOO'; /);
    assert.deepEqual(paths(specText({ capabilities: { add: ['chpass'], drop: ['mknod', 'bogus'] } })),
      ['capabilities.add[0]', 'capabilities.drop[1]']);
  });

  test('mount destination with ..', () => {
    const errors = parseErrors(specText({ mounts: [{ source: '/data', destination: '/home/../../etc', type: 'bind', options: [] }] }));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.path, 'mounts[0].destination');
    assert.match(errors[0]!.message, /^mounts\[0\]\.destination: '\.\.' is not allowed/);
  });

  test('loop mount: .. and a missing fstype', () => {
    const errors = parseErrors(specText({ mounts: [{ source: '/img', destination: '/a/..', type: 'loop' }] }));
    assert.deepEqual(errors.map((e) => e.path).sort(), ['mounts[0].destination', 'mounts[0].fstype']);
  });

  test('mount problems: relative destination, /, relative bind source, duplicate destination, missing fields', () => {
    assert.match(messages(specText({ mounts: [{ source: '/a', destination: 'data', type: 'bind' }] }))[0]!, /is not absolute/);
    assert.match(messages(specText({ mounts: [{ source: '/a', destination: '//', type: 'bind' }] }))[0]!, /mounting over \/ is not allowed/);
    assert.match(messages(specText({ mounts: [{ source: 'a', destination: '/a', type: 'bind' }] }))[0]!,
      /^mounts\[0\]\.source: 'a' is not absolute; a bind mount needs an absolute host path$/);
    const dup = [{ source: '/a', destination: '/x', type: 'bind' }, { source: '/b', destination: '/x/', type: 'bind' }];
    assert.match(messages(specText({ mounts: dup }))[0]!, /^mounts\[1\]\.destination: '\/x' is already the destination of mounts\[0\]/);
    assert.deepEqual(paths(specText({ mounts: [{}] })).sort(), ['mounts[0].destination', 'mounts[0].source', 'mounts[0].type']);
  });

  test('args: empty, or a first argument that is not a program', () => {
    assert.match(messages(specText({ args: [] }))[0]!, /^args: is empty/);
    assert.match(messages(specText({ args: ['-c', 'x'] }))[0]!, /^args\[0\]: '-c' is not a program/);
    assert.match(messages(specText({ args: ['sl\u0000eep'] }))[0]!, /^args\[0\]: must not contain a NUL character/);
  });

  test('env entries that are not NAME=value', () => {
    assert.deepEqual(paths(specText({ env: ['OK=1', 'NOVALUE', '=x'] })), ['env[1]', 'env[2]']);
  });

  test('cwd must be absolute and must not climb', () => {
    assert.match(messages(specText({ cwd: 'home' }))[0]!, /^cwd: 'home' is not absolute/);
    assert.match(messages(specText({ cwd: '/a/../..' }))[0]!, /^cwd: '\.\.' is not allowed/);
  });

  test('cpu: shares out of range, bad core lists', () => {
    assert.match(messages(specText({ cpu: { shares: 0 } }))[0]!, /^cpu\.shares: 0 is out of range; shares is a percentage/);
    assert.match(messages(specText({ cpu: { shares: 101 } }))[0]!, /101 is out of range/);
    assert.match(messages(specText({ cpu: { cores: '8' } }))[0]!, /^cpu\.cores: names CPU 8; a Dobby spec can name CPUs 0\.\.7 only$/);
    assert.match(messages(specText({ cpu: { cores: '3-1' } }))[0]!, /runs backwards/);
    assert.match(messages(specText({ cpu: { cores: 'a' } }))[0]!, /is not a CPU number or range/);
    assert.match(messages(specText({ cpu: { cores: '' } }))[0]!, /is empty/);
  });

  test('rtPriority out of range, default above limit', () => {
    assert.match(messages(specText({ rtPriority: 100 }))[0]!, /^rtPriority: 100 is out of range; real-time priorities are 0\.\.99$/);
    assert.deepEqual(messages(specText({ version: '1.1', rtPriority: { default: 5, limit: 3 } })),
      ['rtPriority.default (5) must be <= rtPriority.limit (3)']);
  });

  test('network, console and seccomp values', () => {
    assert.match(messages(specText({ network: 'bridge' }))[0]!, /^network: 'bridge' is not a network type; use "nat", "open" or "private"$/);
    assert.match(messages(specText({ console: { path: 'log.txt' } }))[0]!, /^console\.path: 'log\.txt' is not absolute/);
    assert.match(messages(specText({ console: { path: '/x', limit: -2 } }))[0]!, /^console\.limit: -2 is out of range/);
    const emptyNames = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: { names: [], action: 'SCMP_ACT_ERRNO' } };
    assert.match(messages(specText({ seccomp: emptyNames }))[0]!, /^seccomp\.syscalls\.names: is empty/);
  });

  test('devices: bad major and minor', () => {
    assert.deepEqual(paths(specText({ devices: [{ major: 0, minor: 2000, access: 'r' }] })), ['devices[0].major', 'devices[0].minor']);
    assert.match(messages(specText({ devices: [{ major: 'a b', minor: 1, access: 'r' }] }))[0]!, /is not a driver name/);
  });

  test('plugins: duplicate legacy names, bad rdk plugin names', () => {
    assert.match(messages(specText({ plugins: [{ name: 'a' }, { name: 'a' }] }))[0]!, /^plugins\[1\]\.name: plugin 'a' is listed twice/);
    assert.match(messages(specText({ rdkPlugins: { 'bad name': {} } }))[0]!, /^rdkPlugins\["bad name"\]: 'bad name' is not a plugin name/);
  });

  test('every problem is reported, not only the first', () => {
    const errors = parseErrors(specText({ user: { uid: 0, gid: 1 }, memLimit: 'x', capabilities: ['FOO'], cwd: 'rel', network: 'x' }));
    assert.deepEqual(errors.map((e) => e.path).sort(), ['capabilities[0]', 'cwd', 'memLimit', 'network', 'user.uid']);
  });

  test('null is an empty object where Dobby reads it member by member, an error elsewhere', () => {
    const { spec } = parseOk(specText({ cpu: null, gpu: null, vpu: null, dbus: null, rdkPlugins: null, swapLimit: null }));
    assert.deepEqual([spec.cpu, spec.gpu, spec.vpu, spec.dbus, spec.swapLimit], [null, null, null, null, null]);
    assert.deepEqual(paths(specText({ mounts: null, env: null, etc: null, capabilities: null, rtPriority: null })).sort(),
      ['capabilities', 'env', 'etc', 'mounts', 'rtPriority']);
  });

  test('prototype keys are ordinary unknown keys', () => {
    const r = parseSpec('{"version":"1.0","args":["a"],"user":{"uid":1,"gid":1},"memLimit":1048576,"__proto__":{"x":1},"constructor":1}');
    assert.ok(r.ok);
    assert.equal(r.warnings.length, 2);
  });

  test('the daemon error carries every message', () => {
    const errors = parseErrors(specText({ user: { uid: 0, gid: 0 }, cwd: 'x' }));
    const err = specErrorsToDobbyError(errors, 'app');
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.equal(err.containerId, 'app');
    assert.match(err.message, /^invalid Dobby spec \(2 problems\):\nuser\.uid: 0 is not allowed.*\ncwd: /s);
  });
});

describe('host-dependent errors from specToOci', () => {
  test('a device not in the whitelist, and a driver the host lacks', () => {
    const { spec } = parseOk(specText({ devices: [{ major: 1, minor: 3, access: 'rw' }, { major: 'nvidia', minor: 0, access: 'r' }] }));
    const r = specToOci(spec, HOST);
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => e.message), [
      'devices[0]: device 1:3 is not allowed; allowed are hidraw (245) minors 0-99; 13 minors 64-95',
      "devices[1].major: no character device driver 'nvidia' on this host (see /proc/devices)",
    ]);
  });

  test('a capability newer than the kernel', () => {
    const { spec } = parseOk(specText({ capabilities: ['CAP_BPF'] }));
    const r = specToOci(spec, { ...HOST, lastCap: 37 });
    assert.ok(!r.ok);
    assert.match(r.errors[0]!.message, /^capabilities: CAP_BPF is not supported by this kernel \(its last capability is CAP_AUDIT_READ\)/);
  });

  test('a mount under a bind-mounted file of the generated rootfs', () => {
    const { spec } = parseOk(specText({ mounts: [{ source: '/a', destination: '/etc/passwd/x', type: 'tmpfs' }] }));
    const r = specToOci(spec, HOST);
    assert.ok(!r.ok);
    assert.match(r.errors[0]!.message, /^mounts\[0\]\.destination: '\/etc\/passwd\/x' lies under the file \/etc\/passwd/);
  });
});

describe('spec extensions: bad values name the field', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['resources', { resources: 'x' }, /^resources: expected an object like/],
    ['resources', { resources: [] }, /^resources: expected an object like .*, got an array$/],
    ['resources.cpuQuota', { resources: { cpuQuota: 0 } }, /^resources\.cpuQuota: 0 is out of range; give microseconds of CPU time per period, at least 1000/],
    ['resources.cpuQuota', { resources: { cpuQuota: -1 } }, /^resources\.cpuQuota: -1 is out of range/],
    ['resources.cpuQuota', { resources: { cpuQuota: 999 } }, /^resources\.cpuQuota: 999 is out of range/],
    ['resources.cpuQuota', { resources: { cpuQuota: '50000' } }, /^resources\.cpuQuota: expected an integer \(1000\.\.\d+\), got a string/],
    ['resources.cpuQuota', { resources: { cpuQuota: 2 ** 44 } }, /is out of range/],
    ['resources.cpuPeriod', { resources: { cpuPeriod: 0 } }, /^resources\.cpuPeriod: 0 is out of range; give the period in microseconds, 1000\.\.1000000/],
    ['resources.cpuPeriod', { resources: { cpuPeriod: 1_000_001 } }, /^resources\.cpuPeriod: 1000001 is out of range/],
    ['resources.cpuPeriod', { resources: { cpuPeriod: 1.5 } }, /^resources\.cpuPeriod: expected an integer/],
    ['resources.pidsLimit', { resources: { pidsLimit: 0 } }, /^resources\.pidsLimit: 0 is out of range; .* or -1 for no limit$/],
    ['resources.pidsLimit', { resources: { pidsLimit: -2 } }, /^resources\.pidsLimit: -2 is out of range/],
    ['resources.blkioWeight', { resources: { blkioWeight: 9 } }, /^resources\.blkioWeight: 9 is out of range; the block I\/O weight is 10\.\.1000/],
    ['resources.blkioWeight', { resources: { blkioWeight: 1001 } }, /^resources\.blkioWeight: 1001 is out of range/],
    ['resources.blkioWeight', { resources: { blkioWeight: 0 } }, /^resources\.blkioWeight: 0 is out of range/],
    ['resources.memoryReservation', { resources: { memoryReservation: 41943041 } },
      /^resources\.memoryReservation \(41943041\) must be <= memLimit \(41943040\)/],
    ['resources.memoryReservation', { resources: { memoryReservation: 0 } }, /^resources\.memoryReservation: 0 is out of range/],
    ['resources.kernelMemory', { resources: { kernelMemory: 4194303 } }, /^resources\.kernelMemory: 4194303 is out of range; .*at least 4194304/],
    ['resources.kernelMemory', { memLimit: 8388608, resources: { kernelMemory: 8388609 } }, /^resources\.kernelMemory \(8388609\) must be <= memLimit/],
    ['resources.swappiness', { resources: { swappiness: 101 } }, /^resources\.swappiness: 101 is out of range; swappiness is 0\.\.100, or -1/],
    ['resources.swappiness', { resources: { swappiness: -2 } }, /^resources\.swappiness: -2 is out of range/],
    ['resources.oomScoreAdj', { resources: { oomScoreAdj: 1001 } }, /^resources\.oomScoreAdj: 1001 is out of range; oom_score_adj is -1000\.\.1000$/],
    ['resources.oomScoreAdj', { resources: { oomScoreAdj: -1001 } }, /^resources\.oomScoreAdj: -1001 is out of range/],
    ['resources.oomKillDisable', { resources: { oomKillDisable: 'yes' } }, /^resources\.oomKillDisable: expected true or false, got a string/],
    ['resources.rlimits', { resources: { rlimits: ['nofile=1024'] } }, /^resources\.rlimits: expected an object like/],
    ['resources.rlimits.as', { resources: { rlimits: { as: 1024 } } }, /^resources\.rlimits\.as: 'as' \(address space\) is not supported, as in Docker/],
    ['resources.rlimits.RLIMIT_AS', { resources: { rlimits: { RLIMIT_AS: 1024 } } }, /is not supported, as in Docker/],
    ['resources.rlimits.files', { resources: { rlimits: { files: 1024 } } }, /^resources\.rlimits\.files: unknown limit 'files'; use one of core, cpu, .*stack$/],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: '4096:1024' } } },
      /^resources\.rlimits\.nofile: soft limit 4096 is above the hard limit 1024; soft must be <= hard$/],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: { soft: 10, hard: 5 } } } }, /soft limit 10 is above the hard limit 5/],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: '1:2:3' } } }, /^resources\.rlimits\.nofile: '1:2:3' has 3 values; write an integer/],
    // Docker's pkg/ulimit read a bad hard value as 0; here it is an error of its own.
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: '1024:lots' } } },
      /^resources\.rlimits\.nofile: the hard value 'lots' is not a number 0\.\.\d+; write /],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: 'unlimited' } } }, /the soft value 'unlimited' is not a number/],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: -1 } } }, /^resources\.rlimits\.nofile: -1 is out of range; limits are 0\.\./],
    ['resources.rlimits.nofile', { resources: { rlimits: { nofile: true } } }, /^resources\.rlimits\.nofile: expected an integer \(soft = hard\), "soft:hard"/],
    ['resources.rlimits.nofile.soft', { resources: { rlimits: { nofile: { hard: 5 } } } }, /^resources\.rlimits\.nofile\.soft: required/],
    ['resources.rlimits.NOFILE', { resources: { rlimits: { nofile: 1, NOFILE: 2 } } }, /^resources\.rlimits\.NOFILE: 'NOFILE' sets RLIMIT_NOFILE again/],
    ['resources.rlimits.rtprio', { rtPriority: 4, resources: { rlimits: { rtprio: 1 } } },
      /^resources\.rlimits\.rtprio: RLIMIT_RTPRIO is set by the rtscheduling plugin from rtPriority/],
    ['hostNamespaces', { hostNamespaces: 'network' }, /^hostNamespaces: expected an array like \["ipc", "uts"\]/],
    ['hostNamespaces[0]', { hostNamespaces: ['user'] }, /^hostNamespaces\[0\]: 'user' is not a namespace the container can share with the host; the user namespace is always the container's own$/],
    ['hostNamespaces[1]', { hostNamespaces: ['ipc', 'net'] }, /^hostNamespaces\[1\]: 'net' is not a namespace .*; use "network", "ipc", "pid" or "uts"$/],
    ['hostNamespaces[0]', { hostNamespaces: [1] }, /^hostNamespaces\[0\]: expected "network", "ipc", "pid" or "uts", got a number/],
    ['hostNamespaces[1]', { hostNamespaces: ['uts', 'pid'] }, /^hostNamespaces\[1\]: the host's pid namespace needs "userNs": false; a user namespace cannot mount \/proc/],
    ['hostNamespaces[0]', { hostNamespaces: ['network'], network: 'nat' }, /^hostNamespaces\[0\]: the host's network namespace contradicts "network": "nat"/],
    ['hostNamespaces[0]', { hostNamespaces: ['network'], network: 'private' }, /contradicts "network": "private"/],
    ['readonlyRootfs', { readonlyRootfs: 'yes' }, /^readonlyRootfs: expected true or false, got a string/],
    ['noNewPrivileges', { noNewPrivileges: 1 }, /^noNewPrivileges: expected true or false, got a number/],
  ];
  for (const [path, extra, pattern] of cases) {
    test(`${path}: ${JSON.stringify(extra).slice(0, 70)}`, () => {
      const errors = parseErrors(specText(extra));
      const hit = errors.find((e) => e.path === path);
      assert.ok(hit, `no error for ${path}; got ${errors.map((e) => e.message).join(' | ')}`);
      assert.match(hit.message, pattern);
      for (const e of errors) assert.ok(e.message.startsWith(e.path), e.message);
    });
  }

  test('every bad resource is reported at once, not only the first', () => {
    const errors = parseErrors(specText({ resources: { cpuQuota: 0, blkioWeight: 1, swappiness: 500, rlimits: { as: 1, nofile: '2:1' } } }));
    assert.deepEqual(errors.map((e) => e.path).sort(), [
      'resources.blkioWeight', 'resources.cpuQuota', 'resources.rlimits.as', 'resources.rlimits.nofile', 'resources.swappiness',
    ]);
  });

  test('unknown keys inside resources are ignored with a warning, near misses pointed out', () => {
    const { warnings } = parseOk(specText({ resources: { cpuquota: 50000, turbo: true } }));
    assert.deepEqual(warnings, [
      "resources.cpuquota: unknown field, ignored (did you mean 'cpuQuota'? field names are case-sensitive)",
      'resources.turbo: unknown field, ignored',
    ]);
  });

  test('a namespace listed twice is a warning; the host network with "open" or null is fine', () => {
    assert.deepEqual(parseOk(specText({ hostNamespaces: ['ipc', 'ipc'] })).warnings, ["hostNamespaces[1]: 'ipc' is listed twice"]);
    parseOk(specText({ hostNamespaces: ['network'], network: 'open' }));
    parseOk(specText({ hostNamespaces: ['network'], network: null }));
    parseOk(specText({ hostNamespaces: ['pid'], userNs: false }));
  });

  test('null extension fields are absent, as null members are elsewhere in Dobby\'s format', () => {
    const { spec } = parseOk(specText({ resources: null, readonlyRootfs: null, hostNamespaces: null, noNewPrivileges: null }));
    assert.equal(spec.readonlyRootfs, true);
    assert.deepEqual(spec.hostNamespaces, []);
    assert.equal(spec.noNewPrivileges, null);
    assert.deepEqual(spec.resources.rlimits, []);
  });
});

describe('spec extensions: what this host cannot grant is refused by specToOci, naming the field', () => {
  test('oom_score_adj below the daemon\'s own without CAP_SYS_RESOURCE', () => {
    const { spec } = parseOk(specText({ resources: { oomScoreAdj: -500 } }));
    const r = specToOci(spec, { ...HOST, capSysResource: false, oomScoreAdj: -100 });
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => [e.code, e.path]), [['HOST', 'resources.oomScoreAdj']]);
    assert.match(r.errors[0]!.message,
      /^resources\.oomScoreAdj: -500 is below dobbyd's own oom_score_adj \(-100\), and lowering it needs CAP_SYS_RESOURCE, which dobbyd lacks; give -100\.\.1000$/);
    assert.ok(specToOci(spec, { ...HOST, capSysResource: false, oomScoreAdj: -600 }).ok, 'at or above the daemon\'s own is fine');
  });

  test('an rlimit above the host\'s hard limit without CAP_SYS_RESOURCE', () => {
    const { spec } = parseOk(specText({ resources: { rlimits: { NoFile: '1024:30000', core: 5 } } }));
    const r = specToOci(spec, HOST);
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => e.path), ['resources.rlimits.NoFile']);
    assert.match(r.errors[0]!.message, /hard limit 30000 is above this host's hard RLIMIT_NOFILE \(20000\), .*; give at most 20000$/);
  });

  test('a container id that is not a plain name is refused before anything is written', async () => {
    const { mkdtemp, readdir, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SpecBundles } = await import('../../src/drivers/bundles/spec-bundles.ts');
    const dir = await mkdtemp(join(tmpdir(), 'dobby-bad-id-'));
    try {
      const bundles = new SpecBundles({ dir: join(dir, 'bundles'), initPath: '/usr/bin/tini-static' });
      for (const id of ['../x', '/abs', '/tmp/../etc', 'a/b', '..', '.', '', 'x\u0000y', 'a'.repeat(200)]) {
        await assert.rejects(bundles.create(id, specText()), (err: { code?: string; message?: string }) => {
          assert.equal(err.code, 'INVALID_ID', id);
          assert.match(err.message ?? '', /^the container id /);
          return true;
        });
      }
      assert.deepEqual(await readdir(dir), [], 'nothing was written for a bad id');
      const r = specToOci(parseOk(specText()).spec, { ...HOST, id: '../../etc' });
      assert.ok(!r.ok, 'specToOci refuses it too');
      assert.match(r.errors[0]!.message, /the container id '\.\.\/\.\.\/etc' has characters other than/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
