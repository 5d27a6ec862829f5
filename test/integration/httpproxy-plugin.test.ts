// The httpproxy plugin through a real dobbyd: the container's http_proxy/no_proxy name the proxy,
// and a proxy root CA this test made (openssl) is the first certificate of the CA bundle the
// container sees, read-only, at the host bundle's path; from a Dobby-format bundle and a spec's
// rdkPlugins. Bad data is refused naming the field; the combined bundle is gone after a stop, a
// container that crashes and a start that fails after the plugin ran.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import { dobby } from '../api/harness.ts';
import { appPluginDaemon, warningsAbout } from '../helpers/app-plugins.ts';

const HOST_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
let caPem = '';

const env = appPluginDaemon({
  async setUp(scratch) {
    const key = join(scratch.dir, 'proxy-ca.key');
    const cert = join(scratch.dir, 'proxy-ca.pem');
    const made = await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=dobby-ts test proxy CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', key, '-out', cert,
    ]);
    assert.equal(made.code, 0, made.stderr);
    caPem = readFileSync(cert, 'utf8');
    return {};
  },
});

const caFiles = (): string[] => {
  const dir = join(env.daemon().stateDir, 'httpproxy');
  return existsSync(dir) ? readdirSync(dir) : [];
};

const SCRIPT = [
  'env > /out/env',
  `cat ${HOST_BUNDLE} > /out/ca`,
  `(echo x >> ${HOST_BUNDLE}) 2>/dev/null && echo writable > /out/ca-rw || echo read-only > /out/ca-rw`,
  'touch /out/done',
  'exec sleep 1000',
].join('\n');

function envOf(text: string): Map<string, string> {
  return new Map(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const PROXY = { proxy: { host: 'proxy.test', port: 3128 } };

describe('httpproxy plugin through dobbyd', { concurrency: 1 }, () => {
  test('Dobby bundle: http_proxy, no_proxy with the bridge first, the proxy CA first in the read-only CA bundle', async () => {
    const id = env.scratch.id('proxy');
    const data = { ...PROXY, ignoreProxy: ['localhost', '.internal.test'], ignoreProxyOnBridge: true, proxyRootCACert: caPem };
    const bundle = await env.bundle(id, SCRIPT, { httpproxy: { required: true, data } });
    const started = await env.start(id, bundle);
    assert.equal(started.code, 0, `${started.stderr}${started.stdout}\n${env.daemon().stderr().slice(-2000)}`);
    const seen = await env.seen(id);
    const vars = envOf(seen('env'));
    assert.equal(vars.get('http_proxy'), 'http://proxy.test:3128');
    assert.equal(vars.get('no_proxy'), '100.64.11.1,localhost,.internal.test');
    assert.equal(vars.has('https_proxy'), false, 'Dobby sets no https_proxy');
    const ca = seen('ca');
    assert.ok(ca.startsWith(caPem), 'the proxy CA is not the first certificate of the container\'s bundle');
    assert.ok(ca.endsWith(readFileSync(HOST_BUNDLE, 'utf8')), 'the host\'s certificates do not follow it');
    assert.equal(seen('ca-rw').trim(), 'read-only');
    assert.deepEqual(caFiles(), [`${id}.crt`]);
    await env.stop(id);
    assert.deepEqual(caFiles(), []);
    assert.deepEqual(await env.leftovers(id), []);
  });

  test('StartFromSpec with rdkPlugins.httpproxy: the same for an unprivileged user in a user namespace; without a CA or no_proxy only http_proxy', async () => {
    const id = env.scratch.id('proxy-spec');
    const spec = await env.specFile(id, SCRIPT, { rdkPlugins: { httpproxy: { data: { ...PROXY, proxyRootCACert: caPem } } } });
    assert.equal((await env.start(id, spec)).code, 0, env.daemon().stderr().slice(-2000));
    const seen = await env.seen(id);
    assert.equal(envOf(seen('env')).get('http_proxy'), 'http://proxy.test:3128');
    assert.equal(envOf(seen('env')).has('no_proxy'), false);
    assert.ok(seen('ca').startsWith(caPem));
    await env.stop(id);
    assert.deepEqual(caFiles(), []);
    assert.deepEqual(await env.leftovers(id), []);

    const plain = env.scratch.id('proxy-noca');
    const bundle = await env.bundle(plain, SCRIPT, { httpproxy: { data: PROXY } });
    assert.equal((await env.start(plain, bundle)).code, 0);
    const seenPlain = await env.seen(plain);
    assert.equal(envOf(seenPlain('env')).get('http_proxy'), 'http://proxy.test:3128');
    assert.equal(seenPlain('ca'), '', 'without a CA nothing is mounted (the rootfs has no bundle)');
    assert.deepEqual(caFiles(), []);
    await env.stop(plain);
    assert.deepEqual(await env.leftovers(plain), []);
  });

  test('a container that crashes and a start that fails after the plugin ran leave no CA bundle', async () => {
    const id = env.scratch.id('proxy-crash');
    const crashing = 'touch /out/done; while [ ! -e /out/crash ]; do sleep 0.1; done; kill -SEGV $$';
    const bundle = await env.bundle(id, crashing, { httpproxy: { data: { ...PROXY, proxyRootCACert: caPem } } });
    assert.equal((await env.start(id, bundle)).code, 0);
    await env.seen(id);
    assert.deepEqual(caFiles(), [`${id}.crt`]);
    writeFileSync(env.outFile(id, 'crash'), '');
    for (let i = 0; i < 600 && (await dobby(env.daemon().address, ['list'])).stdout.includes(id); i++) await sleep(50);
    assert.deepEqual(caFiles(), []);
    assert.deepEqual(await env.leftovers(id), []);

    // localtime runs after httpproxy (dependsOn) and fails: the start fails and the teardown removes the bundle.
    const failed = env.scratch.id('proxy-fail');
    const failing = await env.bundle(failed, SCRIPT, {
      httpproxy: { data: { ...PROXY, proxyRootCACert: caPem } },
      localtime: { required: true, dependsOn: ['httpproxy'], data: { path: '/no/such/zone' } },
    });
    assert.notEqual((await env.start(failed, failing)).code, 0);
    assert.match(warningsAbout(env.daemon(), failed), /localtime\.data\.path is \/no\/such\/zone/);
    assert.ok(existsSync(join(failing, 'rootfs', HOST_BUNDLE)), 'httpproxy did not run before localtime (no mount point made)');
    assert.deepEqual(caFiles(), []);
    assert.deepEqual(await env.leftovers(failed), []);
  });

  test('bad data fails the start naming the field, optional or not; nothing is left', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /httpproxy\.data\.proxy is missing/],
      [{ proxy: { port: 3128 } }, /httpproxy\.data\.proxy\.host is missing/],
      [{ proxy: { host: 'proxy.test' } }, /httpproxy\.data\.proxy\.port is missing or 0/],
      [{ proxy: { host: 'proxy.test', port: 70000 } }, /httpproxy\.data\.proxy\.port is 70000; it must be a whole number from 0 to 65535/],
      [{ proxy: { host: 'a b', port: 1 } }, /httpproxy\.data\.proxy\.host is \\?"a b\\?"; it must be a host name/],
      [{ ...PROXY, ignoreProxy: ['a,b'] }, /httpproxy\.data\.ignoreProxy\[0\] is/],
      [{ ...PROXY, ignoreProxyOnBridge: 'yes' }, /httpproxy\.data\.ignoreProxyOnBridge is \\?"yes\\?"; it must be true or false/],
      [{ ...PROXY, proxyRootCACert: 'not a cert' }, /httpproxy\.data\.proxyRootCACert is not a PEM CA certificate/],
    ];
    for (const [i, [data, field]] of cases.entries()) {
      const id = env.scratch.id(`proxy-bad${i}`);
      const bundle = await env.bundle(id, SCRIPT, { httpproxy: { required: false, data } });
      assert.notEqual((await env.start(id, bundle)).code, 0, JSON.stringify(data));
      assert.match(warningsAbout(env.daemon(), id), field);
      assert.deepEqual(await env.leftovers(id), []);
    }
    assert.deepEqual(caFiles(), []);
  });
});
