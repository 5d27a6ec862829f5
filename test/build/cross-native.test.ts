// The native addons cross-built for the release's other CPUs (node-gyp --arch with Debian's cross toolchains):
// `file` must see ARM shared objects, and the build refuses a binary for the wrong CPU.
// needs: cross-toolchains

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assertElfFor, findArch } from '../../scripts/build/arch.ts';
import { buildAddons, crossToolchain } from '../../scripts/build/native.ts';
import { buildRelease } from '../../scripts/build/release.ts';

const scratch = mkdtempSync('/tmp/dobby-cross-test-');
after(() => rmSync(scratch, { recursive: true, force: true }));

const EXPECTED = { arm64: /ELF 64-bit LSB shared object, ARM aarch64/, armv7l: /ELF 32-bit LSB shared object, ARM, EABI5/ } as const;

for (const [name, pattern] of Object.entries(EXPECTED)) {
  const arch = findArch(name)!;
  const tools = crossToolchain(arch);
  test(`the addons for linux-${name}`, { skip: typeof tools === 'string' && tools }, () => {
    const out = join(scratch, name);
    buildAddons(arch, out);
    for (const file of ['uwrap.node', 'cloexec.node', 'unixdgram.node', 'spawn.node']) {
      const described = spawnSync('file', ['-b', join(out, file)], { encoding: 'utf8' }).stdout;
      assert.match(described, pattern, `${file}: ${described}`);
      assert.throws(() => assertElfFor(join(out, file), findArch('x64')!), /not for linux-x64/);
    }
  });
}

test('a release for another CPU needs an init built for it (--init), and refuses one for the wrong CPU', async () => {
  const arch = findArch('arm64')!;
  const options = { arch, outDir: scratch, prefix: '/usr/lib/dobby-ts' };
  await assert.rejects(buildRelease(options), /give --init PATH: a static init \(tini-static\) built for linux-arm64/);
  await assert.rejects(buildRelease({ ...options, init: '/usr/bin/tini-static' }), /tini-static is built for ELF machine 62 \(64-bit\), not for linux-arm64/);
});
