// The built-in logging plugin: known to the selection, its data checked at postConstruction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createLoggingPlugin } from '../../src/plugins/logging.ts';
import type { HookContext, StartState } from '../../src/plugins/types.ts';

const ctx = (data: unknown): HookContext => ({ id: 'c', rootfs: '/tmp/r', data, logger: silentLogger(), signal: new AbortController().signal });
const state = {} as StartState;

test('good data passes for every sink', () => {
  const plugin = createLoggingPlugin();
  for (const data of [
    { sink: 'file', fileOptions: { path: '/tmp/c.log', limit: 4096 } },
    { sink: 'file', fileOptions: { path: '/tmp/c.log', limit: -1 } },
    { sink: 'devnull' },
    { sink: 'journald', journaldOptions: { priority: 'LOG_INFO' } },
  ]) assert.doesNotThrow(() => plugin.postConstruction!(ctx(data), state), JSON.stringify(data));
});

test('bad data fails the hook with the field named', () => {
  const plugin = createLoggingPlugin();
  const cases: [unknown, RegExp][] = [
    [null, /rdkPlugins\.logging\.data must be an object/],
    [{ sink: 'tape' }, /data\.sink must be "file", "journald", "syslog" or "devnull"/],
    [{ sink: 'file', fileOptions: { path: 'rel.log' } }, /data\.fileOptions\.path must be an absolute host path/],
    [{ sink: 'file', fileOptions: { path: '/tmp/c.log', limit: -2 } }, /data\.fileOptions\.limit/],
  ];
  for (const [data, message] of cases) {
    assert.throws(() => plugin.postConstruction!(ctx(data), state), (err: unknown) => err instanceof DobbyError && message.test(err.message), JSON.stringify(data));
  }
});
