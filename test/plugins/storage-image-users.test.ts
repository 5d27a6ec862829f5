// Which containers use a loop image is kept on disk: a second ImageUsers over the same dir (a restarted
// daemon) still knows an image is shared, and the last user leaves nothing behind.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ImageUsers } from '../../src/plugins/storage/image-users.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-image-users-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an image shared by two containers is still in use after the first goes, also for a restarted daemon', async () => {
  const users = join(dir, 'users');
  const before = new ImageUsers(users);
  await before.add('/data/app.img', 'a');
  await before.add('/data/app.img', 'b');
  await before.add('/data/other.img', 'a');
  const after = new ImageUsers(users); // what the next daemon sees
  assert.equal(await after.drop('/data/app.img', 'a'), true, 'b still uses app.img');
  assert.equal(await after.drop('/data/other.img', 'a'), false);
  assert.equal(await after.drop('/data/app.img', 'b'), false);
  assert.deepEqual(readdirSync(users), []);
});

test('images whose paths differ only in characters a directory name cannot keep are told apart', async () => {
  const users = new ImageUsers(join(dir, 'users2'));
  await users.add('/data/a b.img', 'x');
  assert.equal(await users.drop('/data/a_b.img', 'y'), false);
  assert.equal(await users.drop('/data/a b.img', 'x'), false);
});
