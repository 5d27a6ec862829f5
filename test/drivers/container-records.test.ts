// The daemon's container records on a real file system: atomic writes, and what a killed daemon leaves.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileContainerRecords } from '../../src/drivers/records/container-records.ts';

test("a temp file a killed daemon left between write and rename is removed at the next listing; the records stay", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dobby-records-'));
  try {
    const records = new FileContainerRecords(dir);
    await records.write({ id: 'kept', descriptor: 5, bundle: '/b' });
    // What `write` of an earlier daemon (another pid) leaves when it dies before the rename.
    await writeFile(join(dir, 'half.json.999999999.tmp'), '{"id":"half","descriptor":6,"bundle":"/c"}');
    assert.deepEqual(await records.list(), [{ id: 'kept', descriptor: 5, bundle: '/b' }]);
    assert.deepEqual(await readdir(dir), ['kept.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
