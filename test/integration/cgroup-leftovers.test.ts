// A create that crun abandons after making the container's cgroups (here: a blkio weight this host's
// kernel cannot take) leaves no cgroup behind once the start has failed.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { realManager } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const real = realManager(scratch, 'crun');

/** Every cgroup directory named after the container, in any hierarchy. */
function cgroupDirsOf(id: string): string[] {
  const roots = readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  return roots.map((root) => join(root, id)).filter((dir) => existsSync(dir));
}

const noBlkioWeight = !existsSync('/sys/fs/cgroup/blkio') || existsSync('/sys/fs/cgroup/blkio/blkio.weight');

describe('cgroups of a failed create', () => {
  test('are removed with the container', { skip: noBlkioWeight ? 'this host takes blkio weights, so crun does not fail here' : false }, async () => {
    const id = scratch.id('blkio');
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/true'], init: true });
    await writeConfig(bundle, { args: ['/bin/true'], init: true }, (config) => {
      const linux = config['linux'] as { resources: Record<string, unknown> };
      linux.resources['blockIO'] = { weight: 500 };
    });
    await assert.rejects(real.manager.start({ id, bundle }), (err: unknown) => err instanceof DobbyError);
    await real.next(id, 'deleted');
    assert.deepEqual(cgroupDirsOf(id), [], 'a cgroup was left behind');
  });

  test('of a live container are never touched by the sweep', async () => {
    const id = scratch.id('live');
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sleep', '1000'], init: true });
    const descriptor = await real.manager.start({ id, bundle });
    const { realCgroupProbe } = await import('../../src/daemon.ts');
    await realCgroupProbe.removeLeftovers!(id);
    assert.ok(cgroupDirsOf(id).length > 0, 'the live container lost its cgroups');
    assert.equal(real.manager.get(descriptor)?.phase, 'running');
    await real.manager.stop(descriptor, true);
    await real.next(id, 'deleted');
    assert.deepEqual(cgroupDirsOf(id), []);
  });
});
