// The version line of dobbyd -V / dobby -V in a checkout: package.json's version and HEAD's commit.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildInfo, isReleaseBuild, versionLine } from '../../src/version.ts';

const root = join(import.meta.dirname, '..', '..');

test('a checkout reports package.json\'s version and HEAD\'s commit, as Dobby\'s -V line', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const head = spawnSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  assert.match(head, /^[0-9a-f]{12}$/);
  const info = buildInfo();
  assert.equal(info.version, pkg.version);
  assert.match(info.commit, new RegExp(`^${head}(-dirty)?$`));
  assert.equal(versionLine(), `Version: ${pkg.version}-${info.commit}`);
  assert.equal(isReleaseBuild(), false);
});

test('bin/dobbyd --version and bin/dobby --version print that line and exit 0', () => {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  for (const program of ['dobbyd', 'dobby']) {
    const r = spawnSync(join(root, 'bin', program), ['--version'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${versionLine()}\n`);
  }
});
