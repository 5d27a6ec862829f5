// Dobby's TestRdkPlugin (`testrdkplugin`) through a real dobbyd: it runs at every hook point in
// order, logging "Hello world" with the container id, from a Dobby-format bundle and from a spec's
// rdkPlugins; it takes Dobby's plugin order (schema order, dependsOn first); bad or missing data is refused.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { appPluginDaemon, warningsAbout } from '../helpers/app-plugins.ts';

const env = appPluginDaemon({ args: ['--log-level', 'info'] });

const SCRIPT = 'touch /out/done; exec sleep 1000';

/** The hooks the plugin said hello from for this container, in the order it logged them. */
function hellos(id: string): string[] {
  return warningsAbout(env.daemon(), id).split('\n').flatMap((l) => /Hello world, running the (\w+) hook/.exec(l)?.[1] ?? []);
}

describe('testrdkplugin through dobbyd', { concurrency: 1 }, () => {
  test('Dobby bundle: every hook runs in order and says hello; nothing is left after stop', async () => {
    const id = env.scratch.id('hello');
    const bundle = await env.bundle(id, SCRIPT, { testrdkplugin: { required: true, data: { testData: 'some text' } } });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    await env.seen(id);
    const plugin = (await env.plugins(id)).find((p) => p.name === 'testrdkplugin');
    assert.deepEqual(plugin?.hooks.map((h) => `${h.hook}:${h.mode}:${h.ok}`), ['postConstruction:sync:true', 'preStart:sync:true', 'postStart:sync:true']);
    await env.stop(id);
    assert.deepEqual(hellos(id), ['postConstruction', 'preStart', 'postStart', 'postStop', 'preDestruction']);
    assert.match(warningsAbout(env.daemon(), id), new RegExp(`container id: ${id}`));
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('spec rdkPlugins: Dobby\'s order (localtime before testrdkplugin) unless dependsOn says otherwise', async () => {
    const plain = env.scratch.id('hello-order');
    const spec = await env.specFile(plain, SCRIPT, { rdkPlugins: { testrdkplugin: { data: {} }, localtime: {} } });
    assert.equal((await env.start(plain, spec)).code, 0, env.daemon().stderr().slice(-2000));
    await env.seen(plain);
    assert.deepEqual((await env.plugins(plain)).map((p) => p.name).filter((n) => n === 'localtime' || n === 'testrdkplugin'), ['localtime', 'testrdkplugin']);
    await env.stop(plain);
    assert.deepEqual(hellos(plain), ['postConstruction', 'preStart', 'postStart', 'postStop', 'preDestruction']);
    assert.deepEqual(await env.leftovers(plain), []);

    const first = env.scratch.id('hello-dep');
    const depSpec = await env.specFile(first, SCRIPT, { rdkPlugins: { testrdkplugin: { data: {} }, localtime: { dependsOn: ['testrdkplugin'] } } });
    assert.equal((await env.start(first, depSpec)).code, 0, env.daemon().stderr().slice(-2000));
    await env.seen(first);
    assert.deepEqual((await env.plugins(first)).map((p) => p.name).filter((n) => n === 'localtime' || n === 'testrdkplugin'), ['testrdkplugin', 'localtime']);
    await env.stop(first);
    assert.deepEqual(await env.leftovers(first), []);
  });

  test('bad data fails the start naming the field, optional or not; nothing is left', async () => {
    const id = env.scratch.id('hello-bad');
    const spec = await env.specFile(id, SCRIPT, { rdkPlugins: { testrdkplugin: { data: { testData: 5 } } } });
    assert.notEqual((await env.start(id, spec)).code, 0);
    assert.match(warningsAbout(env.daemon(), id), /testrdkplugin\.data\.testData is 5; it must be a string/);
    assert.deepEqual(hellos(id), []);
    assert.deepEqual(await env.leftovers(id), []);

    const missing = env.scratch.id('hello-nodata');
    const noData = await env.bundle(missing, SCRIPT, { testrdkplugin: { required: false } });
    assert.notEqual((await env.start(missing, noData)).code, 0);
    assert.match(warningsAbout(env.daemon(), missing), /testrdkplugin\.data is missing/);
    assert.deepEqual(await env.leftovers(missing), []);
  });
});
