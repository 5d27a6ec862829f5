// Which plugins a bundle's config selects, in which order, and the clear errors for bad sections.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DobbyError } from '../../src/errors.ts';
import { orderByDependencies, selectPlugins, type PluginEntry } from '../../src/plugins/selection.ts';

const everything = { isInstalled: () => true };
const names = (config: unknown, options = everything) => selectPlugins(config, '/bundle', options).plugins.map((p) => p.name);

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DobbyError, `not a DobbyError: ${String(err)}`);
    assert.equal(err.code, 'BUNDLE_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

test('a plain OCI config selects no plugins; the rootfs is root.path, resolved against the bundle', () => {
  const s = selectPlugins({ ociVersion: '1.0.2', root: { path: 'rootfs' } }, '/b', everything);
  assert.deepEqual(s, { plugins: [], skipped: [], rootfs: '/b/rootfs', bundle: '/b' });
  assert.equal(selectPlugins({ root: { path: '/abs/root' } }, '/b', everything).rootfs, '/abs/root');
  assert.equal(selectPlugins({}, '/b', everything).rootfs, '/b/rootfs');
});

test('legacy plugins come first in listed order, then rdk plugins in dependency order', () => {
  const config = {
    legacyPlugins: { Zeta: { required: true, data: { a: 1 } }, alpha: { data: null } },
    rdkPlugins: {
      thunder: { required: false, dependsOn: ['Networking'], data: {} },
      networking: { dependsOn: ['logging'], data: { type: 'nat' } },
      logging: { data: {} },
      minidump: {},
    },
  };
  // Dobby's base order (its schema's: logging, networking, minidump, thunder), dependencies first.
  assert.deepEqual(names(config), ['Zeta', 'alpha', 'logging', 'networking', 'minidump', 'thunder']);
  const s = selectPlugins(config, '/b', everything);
  assert.deepEqual(s.plugins[0], { name: 'Zeta', kind: 'legacy', required: true, dependsOn: [], data: { a: 1 } });
  assert.equal(s.plugins[1]!.required, true, 'a legacy entry is required unless it says otherwise');
  assert.equal(s.plugins.find((p) => p.name === 'minidump')!.required, false, "rdk's default is required: false");
});

test('without dependsOn, plugins Dobby does not know keep their declaration order, after the ones it does', () => {
  assert.deepEqual(names({ rdkPlugins: { c: {}, a: {}, b: {} } }), ['c', 'a', 'b']);
  assert.deepEqual(names({ rdkPlugins: { mine: {}, networking: {}, other: {} } }), ['networking', 'mine', 'other']);
});

test("Dobby's plugins run in its schema order whatever order the config lists them in", () => {
  const config = { rdkPlugins: { rtscheduling: {}, localtime: {}, oomcrash: {}, networking: {}, storage: {}, logging: {}, minidump: {}, ipc: {} } };
  assert.deepEqual(names(config), ['ipc', 'logging', 'networking', 'storage', 'minidump', 'localtime', 'rtscheduling', 'oomcrash']);
});

test("dependsOn puts a plugin's dependencies right before it, depth first (Dobby's solver)", () => {
  // The reference's example: appservicesrdk depending on networking runs networking first of all.
  assert.deepEqual(names({ rdkPlugins: { ipc: {}, networking: {}, logging: {}, appservicesrdk: { dependsOn: ['networking'] } } }),
    ['networking', 'appservicesrdk', 'ipc', 'logging']);
  // ipc waits for logging and networking (both then run before it); rtscheduling stays in its place.
  assert.deepEqual(names({ rdkPlugins: { rtscheduling: {}, ipc: { dependsOn: ['Networking', 'logging'] }, logging: {}, networking: {} } }),
    ['networking', 'logging', 'ipc', 'rtscheduling']);
  // A dependency later in the base order is pulled forward: localtime before networking.
  assert.deepEqual(names({ rdkPlugins: { localtime: {}, networking: { dependsOn: ['localtime'] }, logging: {} } }),
    ['logging', 'localtime', 'networking']);
});

test('a dependsOn cycle is an error naming the cycle', () => {
  rejects(() => names({ rdkPlugins: { a: { dependsOn: ['b'] }, b: { dependsOn: ['C'] }, c: { dependsOn: ['a'] } } }), /cycle: a -> b -> c -> a/);
  rejects(() => names({ rdkPlugins: { self: { dependsOn: ['self'] } } }), /cycle: self -> self/);
});

test('a dependency on a plugin not in the config is an error naming both', () => {
  rejects(() => names({ rdkPlugins: { thunder: { dependsOn: ['networking'] } } }), /rdkPlugins\.thunder\.dependsOn: names 'networking', which is not in rdkPlugins/);
});

test('a required rdk plugin that is not installed fails; an optional one and legacy ones are skipped with a warning', () => {
  const warned: string[] = [];
  const options = { isInstalled: (n: string) => n.toLowerCase() === 'logging', warn: (s: { name: string }) => warned.push(s.name) };
  rejects(() => selectPlugins({ rdkPlugins: { logging: {}, gpu: { required: true } } }, '/b', options), /rdkPlugins\.gpu is required, but no plugin named 'gpu' is installed/);
  const s = selectPlugins({ legacyPlugins: { jumper: { required: true } }, rdkPlugins: { LOGGING: {}, gpu: { required: false } } }, '/b', options);
  assert.deepEqual(s.plugins.map((p) => p.name), ['LOGGING']);
  assert.deepEqual(s.skipped.map((p) => [p.name, p.kind]), [['jumper', 'legacy'], ['gpu', 'rdk']]);
  assert.deepEqual(warned, ['jumper', 'gpu']);
});

test('malformed plugin sections are errors naming the field', () => {
  rejects(() => names({ rdkPlugins: [] }), /^config\.json rdkPlugins: must be an object/);
  rejects(() => names({ rdkPlugins: { a: 3 } }), /^config\.json rdkPlugins\.a: must be an object/);
  rejects(() => names({ rdkPlugins: { a: { required: 'yes' } } }), /rdkPlugins\.a\.required: must be true or false, got the string "yes"/);
  rejects(() => names({ rdkPlugins: { a: { dependsOn: 'b' } } }), /rdkPlugins\.a\.dependsOn: must be an array of plugin names/);
  rejects(() => names({ rdkPlugins: { a: {}, A: {} } }), /rdkPlugins\.A: names the same plugin as rdkPlugins\.a/);
  rejects(() => names({ legacyPlugins: { a: { dependsOn: [] } } }), /legacyPlugins\.a\.dependsOn: legacy plugins run in the order they are listed/);
});

// Any DAG: every plugin comes after each of its dependencies.
test('property: the order respects every dependsOn edge of a random DAG', () => {
  const dag = fc.integer({ min: 1, max: 8 }).chain((n) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
  );
  fc.assert(
    fc.property(dag, fc.boolean(), (deps, shuffleCase) => {
      // Node i may only depend on earlier nodes: always acyclic. Declare them in reverse to make the sort work.
      const entries: PluginEntry[] = deps
        .map((d, i) => ({
          name: `p${i}`,
          kind: 'rdk' as const,
          required: false,
          dependsOn: d.map((j) => (shuffleCase ? `P${j}` : `p${j}`)),
          data: null,
        }))
        .reverse();
      const order = orderByDependencies(entries).map((e) => e.name);
      assert.equal(order.length, entries.length);
      deps.forEach((d, i) => {
        for (const j of d) assert.ok(order.indexOf(`p${j}`) < order.indexOf(`p${i}`), `p${i} ran before its dependency p${j}`);
      });
    }),
  );
});

test('property: adding a back edge to a random chain always makes a cycle error', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), (n, k) => {
      const back = k % n;
      const entries: PluginEntry[] = Array.from({ length: n }, (_, i) => ({
        name: `p${i}`,
        kind: 'rdk' as const,
        required: false,
        dependsOn: [...(i > 0 ? [`p${i - 1}`] : []), ...(i === back ? [`p${n - 1}`] : [])],
        data: null,
      }));
      assert.throws(() => orderByDependencies(entries), /cycle/);
    }),
  );
});
