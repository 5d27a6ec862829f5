// The data checks of the ipc, localtime and rtscheduling plugins: Dobby's names, types and
// defaults; a wrong type is an error naming the field; an unknown field is a warning.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseIpcData } from '../../src/plugins/ipc/data.ts';
import { parseLocalTimeData } from '../../src/plugins/localtime/data.ts';
import { parseRtSchedulingData } from '../../src/plugins/rtscheduling/data.ts';
import { rejectsField } from '../helpers/data-errors.ts';

const rejects = rejectsField;

describe('ipc data', () => {
  test('named buses and host socket paths, in Dobby\'s bus order; a unix:path= address is its path', () => {
    const { data, warnings } = parseIpcData({ debug: 'unix:path=/run/debug.sock', session: '/tmp/s.sock', system: 'system' });
    assert.deepEqual(data.buses, [
      { bus: 'system', source: { kind: 'system' } },
      { bus: 'session', source: { kind: 'path', path: '/tmp/s.sock' } },
      { bus: 'debug', source: { kind: 'path', path: '/run/debug.sock' } },
    ]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(parseIpcData({ session: 'ai-public', debug: 'ai-private' }).data.buses.map((b) => b.source.kind), ['ai-public', 'ai-private']);
    assert.deepEqual(parseIpcData({}).data.buses, []);
  });

  test('bad data names the field; unknown fields warn', () => {
    rejects(() => parseIpcData(null), /^ipc\.data is missing/);
    rejects(() => parseIpcData(['system']), /^ipc\.data must be an object, not an array/);
    rejects(() => parseIpcData({ system: 1 }), /^ipc\.data\.system is 1; it must be a string/);
    rejects(() => parseIpcData({ session: 'sessionbus' }), /^ipc\.data\.session is "sessionbus"; it must be "system", "ai-public", "ai-private" or the absolute path/);
    assert.deepEqual(parseIpcData({ system: 'system', sytem: 'x' }).warnings, ['ipc.data.sytem is not a ipc option and is ignored']);
  });
});

describe('localtime data', () => {
  test('absent data means the host\'s /etc/localtime and no TZ (Dobby\'s defaults)', () => {
    assert.deepEqual(parseLocalTimeData(null).data, { path: '/etc/localtime', setTZ: null });
    assert.deepEqual(parseLocalTimeData({}).data, { path: '/etc/localtime', setTZ: null });
    assert.deepEqual(parseLocalTimeData({ path: '/etc//zone/', setTZ: '/etc/timezone' }).data, { path: '/etc/zone', setTZ: '/etc/timezone' });
  });

  test('bad data names the field; unknown fields warn', () => {
    rejects(() => parseLocalTimeData('UTC'), /^localtime\.data must be an object/);
    rejects(() => parseLocalTimeData({ path: true }), /^localtime\.data\.path is true; it must be a string/);
    rejects(() => parseLocalTimeData({ path: 'etc/localtime' }), /^localtime\.data\.path is "etc\/localtime"; it must be the absolute path of a file/);
    rejects(() => parseLocalTimeData({ path: '//' }), /^localtime\.data\.path is "\/\/"; it must be the absolute path of a file/);
    rejects(() => parseLocalTimeData({ setTZ: ['/etc/timezone'] }), /^localtime\.data\.setTZ is an array; it must be a string/);
    assert.match(parseLocalTimeData({ settz: '/etc/timezone' }).warnings.join(), /localtime\.data\.settz is not a localtime option and is ignored \(the field is setTZ\)/);
  });
});

describe('rtscheduling data', () => {
  test('0 or absent means 6; values are clamped to 1-99', () => {
    assert.deepEqual(parseRtSchedulingData({}).data, { rtlimit: 6, rtdefault: 6 });
    assert.deepEqual(parseRtSchedulingData({ rtdefault: 5, rtlimit: 0 }).data, { rtlimit: 6, rtdefault: 5 });
    assert.deepEqual(parseRtSchedulingData({ rtdefault: -3, rtlimit: 500 }).data, { rtlimit: 99, rtdefault: 1 });
  });

  test('property: any int32 pair gives values in 1-99, 6 for 0, the value itself inside the range', () => {
    const int32 = fc.integer({ min: -2147483648, max: 2147483647 });
    fc.assert(fc.property(int32, int32, (rtlimit, rtdefault) => {
      const { data } = parseRtSchedulingData({ rtlimit, rtdefault });
      for (const [given, got] of [[rtlimit, data.rtlimit], [rtdefault, data.rtdefault]] as const) {
        assert.ok(got >= 1 && got <= 99);
        if (given === 0) assert.equal(got, 6);
        else if (given >= 1 && given <= 99) assert.equal(got, given);
      }
    }));
  });

  test('bad data names the field; README spellings and a default above the limit warn', () => {
    rejects(() => parseRtSchedulingData(null), /^rtscheduling\.data is missing/);
    rejects(() => parseRtSchedulingData({ rtlimit: '10' }), /^rtscheduling\.data\.rtlimit is "10"; it must be a whole number/);
    rejects(() => parseRtSchedulingData({ rtdefault: 2.5 }), /^rtscheduling\.data\.rtdefault is 2\.5; it must be a whole number/);
    rejects(() => parseRtSchedulingData({ rtlimit: 2 ** 31 }), /^rtscheduling\.data\.rtlimit is 2147483648; it must be a whole number from -2147483648 to 2147483647/);
    const { data, warnings } = parseRtSchedulingData({ default: 10, limit: 20, rtdefault: 9, rtlimit: 8 });
    assert.deepEqual(data, { rtlimit: 8, rtdefault: 9 });
    assert.match(warnings.join('\n'), /rtscheduling\.data\.default is not a rtscheduling option and is ignored \(Dobby reads rtdefault\)/);
    assert.match(warnings.join('\n'), /rtscheduling\.data\.limit .*\(Dobby reads rtlimit\)/);
    assert.match(warnings.join('\n'), /rtdefault 9 is above rtlimit 8/);
  });
});
