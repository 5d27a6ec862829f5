// The localtime plugin through a real dobbyd: the container sees a time zone this test made (a
// zoneinfo copy behind a link, and a TZ file), from a Dobby-format bundle and from a spec's
// rdkPlugins; the default is the host's own /etc/localtime; bad data and a missing TZ file.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run } from '../../src/drivers/process.ts';
import { appPluginDaemon, warningsAbout } from '../helpers/app-plugins.ts';

/** A zone with no summer time, so its offset is the same whenever the test runs. */
const ZONE_SOURCE = '/usr/share/zoneinfo/Asia/Kolkata';

let zoneLink = '';
let tzFile = '';

const env = appPluginDaemon({
  async setUp(scratch) {
    const dir = join(scratch.dir, 'zones');
    mkdirSync(join(dir, 'zoneinfo', 'Test'), { recursive: true });
    copyFileSync(ZONE_SOURCE, join(dir, 'zoneinfo', 'Test', 'Kolkata'));
    zoneLink = join(dir, 'localtime');
    symlinkSync(join(dir, 'zoneinfo', 'Test', 'Kolkata'), zoneLink);
    tzFile = join(dir, 'timezone');
    writeFileSync(tzFile, 'IST-5:30\nonly the first line counts\n');
    return {};
  },
});

/** What the container sees at `path` and of its TZ. */
const script = (path: string): string => [
  `cat ${path} > /out/zone`,
  'echo "$TZ" > /out/tz',
  'date +%Z > /out/tz-abbrev',
  `TZ=":${path}" date +%z > /out/zone-offset`,
  'date +%Z > /out/default-abbrev',
  'touch /out/done',
  'exec sleep 1000',
].join('\n');

describe('localtime plugin through dobbyd', { concurrency: 1 }, () => {
  test('Dobby bundle: the zone behind the link is at its path inside, TZ is the first line of setTZ', async () => {
    const id = env.scratch.id('tz');
    const bundle = await env.bundle(id, script(zoneLink), { localtime: { required: true, data: { path: zoneLink, setTZ: tzFile } } });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.ok(readFileSync(env.outFile(id, 'zone')).equals(readFileSync(ZONE_SOURCE)), 'the container did not see the zone file at the path');
    assert.equal(seen('zone-offset').trim(), '+0530');
    assert.equal(seen('tz').trim(), 'IST-5:30');
    assert.equal(seen('tz-abbrev').trim(), 'IST');
    const plugin = (await env.plugins(id)).find((p) => p.name === 'localtime');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.mode}:${h.ok}`), ['postConstruction:sync:true']);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('StartFromSpec with rdkPlugins.localtime: the same, in a user namespace', async () => {
    const id = env.scratch.id('tz-spec');
    const spec = await env.specFile(id, script(zoneLink), { rdkPlugins: { localtime: { data: { path: zoneLink, setTZ: tzFile } } } });
    const started = await env.start(id, spec);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.equal(seen('zone-offset').trim(), '+0530');
    assert.equal(seen('tz').trim(), 'IST-5:30');
    const plugin = (await env.plugins(id)).find((p) => p.name === 'localtime');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true']);
    assert.equal(plugin?.required, false);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('without data (a spec\'s string-form default plugin): the host\'s own /etc/localtime zone, no TZ', async () => {
    const id = env.scratch.id('tz-default');
    const spec = await env.specFile(id, script('/etc/localtime'), { rdkPlugins: { localtime: { required: true } } });
    const started = await env.start(id, spec);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.ok(readFileSync(env.outFile(id, 'zone')).equals(readFileSync(realpathSync('/etc/localtime'))), 'the container did not see the host\'s zone file at /etc/localtime');
    const hostAbbrev = await run('date', ['+%Z'], { env: { PATH: '/usr/bin:/bin' } });
    assert.equal(seen('default-abbrev').trim(), hostAbbrev.stdout.trim());
    assert.equal(seen('tz').trim(), '');
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('bad data fails the start, optional or not, naming the field; nothing is left', async () => {
    const id = env.scratch.id('tz-bad');
    const bundle = await env.bundle(id, script('/etc/localtime'), { localtime: { required: false, data: { path: 7 } } });
    const started = await env.start(id, bundle);
    assert.notEqual(started.code, 0, started.stdout);
    assert.match(warningsAbout(env.daemon(), id), /localtime\.data\.path is 7; it must be a string/);
    assert.deepEqual(await env.leftovers(id), []);

    const specId = env.scratch.id('tz-bad-spec');
    const spec = await env.specFile(specId, script('/etc/localtime'), { rdkPlugins: { localtime: { data: { setTZ: 'timezone' } } } });
    assert.notEqual((await env.start(specId, spec)).code, 0);
    assert.match(warningsAbout(env.daemon(), specId), /localtime\.data\.setTZ is \\?"timezone\\?"; it must be the absolute path of a file/);
    assert.deepEqual(await env.leftovers(specId), []);
  });

  test('an unreadable setTZ file: required fails the start, optional logs and runs without TZ or zone', async () => {
    const missing = join(env.scratch.dir, 'zones', 'no-such-file');
    const requiredId = env.scratch.id('tz-req');
    const required = await env.bundle(requiredId, script(zoneLink), { localtime: { required: true, data: { path: zoneLink, setTZ: missing } } });
    assert.notEqual((await env.start(requiredId, required)).code, 0);
    assert.match(warningsAbout(env.daemon(), requiredId), /localtime\.data\.setTZ is \S+no-such-file, which cannot be read/);
    assert.deepEqual(await env.leftovers(requiredId), []);

    const optionalId = env.scratch.id('tz-opt');
    const optional = await env.bundle(optionalId, script(zoneLink), { localtime: { data: { path: zoneLink, setTZ: missing } } });
    const started = await env.start(optionalId, optional);
    assert.equal(started.code, 0, started.stderr);
    const seen = await env.seen(optionalId);
    assert.equal(seen('tz').trim(), '');
    assert.doesNotMatch(seen('zone-offset'), /\+0530/);
    const plugin = (await env.plugins(optionalId)).find((p) => p.name === 'localtime');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:false']);
    await env.stop(optionalId);
    assert.deepEqual(await env.leftovers(optionalId), []);
  });
});
