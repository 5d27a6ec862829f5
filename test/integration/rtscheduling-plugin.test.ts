// The rtscheduling plugin through a real dobbyd: the container's RLIMIT_RTPRIO (as high as this
// host allows, with a warning when it caps it), its init under SCHED_RR at rtdefault, and its cgroup's
// real-time budget, all seen from inside; from a Dobby-format bundle and a spec's rtPriority; the
// order beside logging and the others; bad data; a host that refuses SCHED_RR (a parent cgroup
// without real-time time), fatal for a required plugin and not for an optional one.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { appPluginDaemon, warningsAbout } from '../helpers/app-plugins.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** This host schedules real-time time per cgroup (cgroup v1 cpu controller with RT group scheduling). */
const RT_BUDGET_HOST = existsSync(join(CGROUP_ROOT, 'cpu', 'cpu.rt_runtime_us'));

/** The RLIMIT_RTPRIO the daemon (our child, with our limits and capabilities) can grant at most; null: any. */
function hostCeiling(): number | null {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  if (((BigInt(`0x${capEff}`) >> 24n) & 1n) === 1n) return null; // CAP_SYS_RESOURCE
  const hard = /^Max realtime priority\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  return hard === undefined || hard === 'unlimited' ? null : Number(hard);
}

const granted = (limit: number): number => Math.min(limit, hostCeiling() ?? limit);

/**
 * What the container sees, with shell builtins only: under SCHED_RR with Dobby's budget (1 ms of
 * CPU per second) every exec'd tool would cost a throttled period. /proc/<pid>/stat field 40 is the
 * real-time priority, 41 the policy (0 SCHED_OTHER, 2 SCHED_RR).
 */
const SCRIPT = [
  'while read -r line; do case "$line" in "Max realtime priority"*) echo "$line";; esac; done < /proc/self/limits > /out/limits',
  'read -r stat < /proc/1/stat; set -- $stat; echo "policy=${41} priority=${40}" > /out/sched-init',
  'read -r stat < /proc/$$/stat; set -- $stat; echo "policy=${41} priority=${40}" > /out/sched-app',
  'read -r rt < /sys/fs/cgroup/cpu/cpu.rt_runtime_us; echo "$rt" > /out/rt-runtime',
  ': > /out/done',
  'exec sleep 1000',
].join('\n');

const env = appPluginDaemon();

function limitOf(text: string): [number, number] {
  const m = /^Max realtime priority\s+(\d+)\s+(\d+)/m.exec(text);
  assert.ok(m !== null, text);
  return [Number(m[1]), Number(m[2])];
}

describe('rtscheduling plugin through dobbyd', { concurrency: 1 }, () => {
  test('Dobby bundle: RLIMIT_RTPRIO rtlimit (capped by the host, with a warning), SCHED_RR rtdefault for init and app, a real-time budget', async () => {
    const id = env.scratch.id('rt');
    const bundle = await env.bundle(id, SCRIPT, { rtscheduling: { required: true, data: { rtlimit: 10, rtdefault: 7 } } });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.deepEqual(limitOf(seen('limits')), [granted(10), granted(10)]);
    if (granted(10) < 10) assert.match(warningsAbout(env.daemon(), id), /this host caps RLIMIT_RTPRIO at \d+ .*gets \d+, not 10/);
    for (const who of ['init', 'app']) assert.equal(seen(`sched-${who}`).trim(), 'policy=2 priority=7', `${who}: not SCHED_RR 7`);
    // The bundle asked for no budget: the plugin gave its cgroup Dobby's 1000 us per period.
    if (RT_BUDGET_HOST) assert.equal(seen('rt-runtime').trim(), '1000');
    const plugin = (await env.plugins(id)).find((p) => p.name === 'rtscheduling');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.mode}:${h.ok}`), ['postConstruction:sync:true', 'preStart:sync:true']);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('StartFromSpec: rtPriority 5 (version 1.0) is rtdefault 5 and the default rtlimit 6', async () => {
    const id = env.scratch.id('rt-spec');
    const spec = await env.specFile(id, SCRIPT, { rtPriority: 5 });
    const started = await env.start(id, spec);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    assert.deepEqual(limitOf(seen('limits')), [granted(6), granted(6)]);
    assert.equal(seen('sched-app').trim(), 'policy=2 priority=5');
    if (RT_BUDGET_HOST) assert.equal(seen('rt-runtime').trim(), '1000');
    const plugin = (await env.plugins(id)).find((p) => p.name === 'rtscheduling');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true', 'preStart:true']);
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('Dobby\'s order beside logging and the others, whatever the config lists: dependsOn pulls a dependency forward', async () => {
    const id = env.scratch.id('rt-order');
    const bundle = await env.bundle(id, SCRIPT, {
      rtscheduling: { data: { rtdefault: 3 } },
      localtime: {},
      logging: { dependsOn: ['RtScheduling'], data: { sink: 'devnull' } },
      ipc: { data: {} },
    });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    await env.seen(id);
    const plugins = await env.plugins(id);
    assert.deepEqual(plugins.map((p) => p.name), ['ipc', 'rtscheduling', 'logging', 'localtime']);
    assert.ok(plugins.every((p) => p.hooks.every((h) => h.ok)), JSON.stringify(plugins));
    await env.stop(id);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('bad data fails the start, optional or not, naming the field; nothing is left', async () => {
    const id = env.scratch.id('rt-bad');
    const bundle = await env.bundle(id, SCRIPT, { rtscheduling: { required: false, data: { rtlimit: 'high' } } });
    assert.notEqual((await env.start(id, bundle)).code, 0);
    assert.match(warningsAbout(env.daemon(), id), /rtscheduling\.data\.rtlimit is \\?"high\\?"; it must be a whole number/);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('SCHED_RR refused (a parent cgroup without real-time time): required fails at preStart, optional runs without it', { skip: RT_BUDGET_HOST ? false : 'this host has no per-cgroup real-time budget (cpu.rt_runtime_us) to withhold' }, async () => {
    const parent = env.scratch.id('rt-parent');
    mkdirSync(join(CGROUP_ROOT, 'cpu', parent)); // a new cgroup has cpu.rt_runtime_us 0
    const nested = (id: string) => readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c, parent, id)).filter((d) => existsSync(d));
    try {
      const requiredId = env.scratch.id('rt-req');
      const required = await env.bundle(requiredId, SCRIPT, { rtscheduling: { required: true, data: { rtdefault: 4 } } });
      await patchCgroupsPath(required, `/${parent}/${requiredId}`);
      assert.notEqual((await env.start(requiredId, required)).code, 0);
      assert.match(warningsAbout(env.daemon(), requiredId), /preStart hook of plugin 'rtscheduling' failed.*SCHED_RR priority 4/);
      assert.deepEqual([...await env.leftovers(requiredId), ...nested(requiredId)], []);

      const optionalId = env.scratch.id('rt-opt');
      const optional = await env.bundle(optionalId, SCRIPT, { rtscheduling: { data: { rtdefault: 4 } } });
      await patchCgroupsPath(optional, `/${parent}/${optionalId}`);
      const started = await env.start(optionalId, optional);
      assert.equal(started.code, 0, `${started.stderr}\n${env.daemon().stderr().slice(-2000)}`);
      const seen = await env.seen(optionalId);
      assert.equal(seen('sched-app').trim(), 'policy=0 priority=0');
      const plugin = (await env.plugins(optionalId)).find((p) => p.name === 'rtscheduling');
      assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true', 'preStart:false']);
      await env.stop(optionalId);
      assert.deepEqual([...await env.leftovers(optionalId), ...nested(optionalId)], []);
    } finally {
      // crun makes the parent in every hierarchy; none of them holds a container any more.
      for (const c of readdirSync(CGROUP_ROOT)) {
        const dir = join(CGROUP_ROOT, c, parent);
        if (existsSync(dir)) rmdirSync(dir);
      }
    }
  });
});

/** Puts the container's cgroups under `cgroupsPath` (the bundle's config.json, edited in place). */
async function patchCgroupsPath(bundle: string, cgroupsPath: string): Promise<void> {
  const file = join(bundle, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as { linux: Record<string, unknown> };
  config.linux['cgroupsPath'] = cgroupsPath;
  await writeFile(file, JSON.stringify(config, null, 2));
}
