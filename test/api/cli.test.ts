// The `dobby` CLI against the D-Bus service over an in-test manager: DobbyTool's exact lines, exit statuses, --json, run and events.
// needs: bus

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dobby, FakeManager, serve, TAG, testBus, type TestBus } from './harness.ts';

describe('dobby CLI', () => {
  let bus: TestBus | undefined;
  let address = '';
  let bundle = '';
  const manager = new FakeManager();
  after(() => bus?.stop());
  const id = (n: string) => `cli-${TAG}-${n}`;
  const out = async (...args: string[]) => {
    const r = await dobby(address, args);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    bus = await testBus();
    address = bus.address;
    bundle = join(bus.dir, 'bundle');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), '{}');
    mkdirSync(join(bus.dir, 'empty'));
    await serve({ manager, address });
  });

  test('list with no containers, then start and list: DobbyTool lines and table', async () => {
    assert.deepEqual(await out('list'), { code: 0, stdout: 'no containers\n', stderr: '' });
    const started = await out('start', id('one'), bundle);
    assert.deepEqual(started, { code: 0, stdout: `started '${id('one')}' container, descriptor is 734\n`, stderr: '' });
    await out('start', id('two'), bundle, 'sleep', '30');
    assert.deepEqual((manager.startRequests.at(-1) as unknown as { command: string[] }).command, ['sleep', '30']);
    const list = await out('list');
    assert.equal(list.stdout, [
      ' descriptor | id                               | state',
      '------------|----------------------------------|-------------',
      `        734 | ${id('one').padEnd(32)} | running`,
      `        735 | ${id('two').padEnd(32)} | running`,
      '',
    ].join('\n'));
    const json = await out('--json', 'list');
    assert.deepEqual(JSON.parse(json.stdout), {
      ok: true,
      containers: [{ descriptor: 734, id: id('one'), state: 'running' }, { descriptor: 735, id: id('two'), state: 'running' }],
    });
  });

  test('start refusals print DobbyTool errors on stdout and exit non-zero', async () => {
    const cases: [string[], string, number][] = [
      [['start', id('x')], 'error - must provide at least two args; <id> <specfile/bundlepath>\n', 2],
      [['start', '--bogus', id('x'), bundle], "error - unknown argument '--bogus'\n", 2],
      [['start', id('x'), join(bus!.dir, 'nope')], `error - failed to stat '${join(bus!.dir, 'nope')}' (2 - No such file or directory)\n`, 2],
      [['start', id('x'), join(bus!.dir, 'empty')], `error - no config.json file found in '${join(bus!.dir, 'empty')}'\n`, 2],
      [['start', id('x'), join(bundle, 'config.json')], `error - failed to start container '${id('x')}'\n`, 1],
      [['start', id('one'), bundle], `error - failed to start container '${id('one')}'\n`, 1],
    ];
    for (const [args, stdout, code] of cases) {
      const r = await out(...args);
      assert.equal(r.stdout, stdout, args.join(' '));
      assert.equal(r.code, code, args.join(' '));
    }
  });

  test('per-container commands by id and by descriptor', async () => {
    const one = id('one');
    assert.equal((await out('pause', one)).stdout, `paused container '${one}'\n`);
    assert.deepEqual(await out('pause', '734'), { code: 1, stdout: 'error - failed to pause the container\n', stderr: '' });
    assert.equal((await out('resume', one)).stdout, `resumed container '${one}'\n`);
    assert.equal((await out('resume', one)).stdout, `error - failed to resume container '${one}'\n`);
    assert.equal((await out('annotate', one, 'Key1', 'Value1')).stdout, `annotate successful for container '${one}'\n`);
    const info = await out('info', one);
    assert.equal(info.code, 0);
    assert.ok(info.stdout.startsWith('{\n'));
    assert.match(info.stdout, /"Key1" : "Value1"/);
    assert.match(info.stdout, /"state" : "running"/);
    assert.equal(JSON.parse(info.stdout).id, one);
    assert.equal((await out('remove-annotation', one, 'Key1')).stdout, `removed Key1 key from container '${one}' annotations\n`);
    assert.equal((await out('remove-annotation', one, 'Key1')).stdout, `error - failed to remove Key1 key from the container ${one} annotations\n`);
    assert.equal((await out('exec', one, 'echo', 'hi')).stdout, `executed command in '${one}' container, descriptor is 734\n`);
    assert.deepEqual(manager.execRequests.at(-1), { args: ['echo', 'hi'] });
    assert.equal((await out('exec', '--tty', one, 'ls')).stdout, `executed command in '${one}' container, descriptor is 734\n`);
    assert.equal((await out('exec', '--nope', one, 'ls')).stdout, `error - failed to execute command in container '${one}'\n`);
    assert.equal((await out('exec', one)).stdout, 'error - must provide at least two args; <id> <command>\n');
    assert.equal((await out('hibernate', '--dest=/tmp', one)).stdout, 'error - failed to hibernate the container\n');
    assert.equal((await out('wakeup', one)).stdout, `error - failed to wakeup container '${one}'\n`);
    assert.equal((await out('mount', one, '/tmp', '/mnt/t', 'bind,ro')).stdout, `error - failed to mount /tmp inside the container ${one}\n`);
    assert.equal((await out('mount', one, '/tmp')).stdout, 'error - must provide at least 4 args; <id> <source> <destination> <mountFlags>\n');
    assert.equal((await out('unmount', one, '/mnt/t')).stdout, `error - failed to unmount /mnt/t inside the container ${one}\n`);
    assert.deepEqual(await out('info', id('ghost')), { code: 1, stdout: `error - failed to find container '${id('ghost')}'\n`, stderr: '' });
    assert.equal((await out('info', '')).stdout, "error - invalid container id ''\n");
    assert.deepEqual(JSON.parse((await out('--json', 'pause', id('ghost'))).stdout), { ok: false, error: `failed to find container '${id('ghost')}'` });
    assert.deepEqual(JSON.parse((await out('annotate', one, 'a', 'b', '--json')).stdout), { ok: true, id: one, descriptor: 734, key: 'a', value: 'b' });
  });

  test('wait, stop (returns after Stopped) and stop --force', async () => {
    const two = id('two');
    assert.deepEqual(await out('wait', two, 'running'), { code: 0, stdout: `Container ${two} has changed state to running\n`, stderr: '' });
    assert.deepEqual(await out('stop', two), { code: 0, stdout: `stopped container '${two}'\n`, stderr: '' });
    assert.equal(manager.get(735), undefined);
    assert.deepEqual(await out('wait', two, 'stopped'), { code: 0, stdout: `Container ${two} has changed state to stopped\n`, stderr: '' });
    assert.equal((await out('wait', two, 'sleeping')).stdout, "error - Invalid container state 'sleeping'\n");
    assert.equal((await out('stop', '734', '--force')).stdout, "stopped container '734'\n");
    assert.equal((await out('stop', id('one'))).stdout, `error - failed to find container '${id('one')}'\n`);
  });

  test('set-log-level, set-dbus, unknown and ambiguous commands, help', async () => {
    assert.deepEqual(await out('set-log-level', 'info'), { code: 0, stdout: '', stderr: '' });
    assert.equal((await out('set-log-level', 'loud')).stdout,
      'error - Error: invalid LEVEL argument, possible values are FATAL, ERROR, WARNING, MILESTONE, INFO or DEBUG\n\n');
    assert.equal((await out('set-dbus', 'middle', 'x')).stdout, "error - first argument must be either 'private' or 'public'\n");
    assert.deepEqual(await out('frob'), { code: 2, stdout: '', stderr: 'frob: No such command.\n' });
    assert.deepEqual(await out('st'), { code: 2, stdout: '', stderr: "Ambiguous command 'st', possible commands: start stop \n" });
    const prefix = await out('li');
    assert.equal(prefix.stdout, 'no containers\n');
    const help = await out('--help');
    assert.match(help.stdout, /^ {2}run +run \[options\.\.\.\] <id> <specfile\/bundlepath> \[command\]$/m);
    assert.match((await out('stop', '--help')).stdout, /^stop <id> \[options\.\.\.\]/);
    assert.match((await out('help', 'events')).stdout, /^events \[--json\]/);
  });

  test('run: waits for its container and exits with its exit code (or 128+signal)', async () => {
    for (const [exit, expected] of [[{ exitCode: 3, signal: null, status: 768 }, 3], [{ exitCode: null, signal: 9, status: 9 }, 137], [{ exitCode: 0, signal: null, status: 0 }, 0]] as const) {
      const name = id(`run${expected}`);
      const child = dobby(address, ['run', name, bundle]);
      let descriptor: number | undefined;
      for (let i = 0; i < 200 && descriptor === undefined; i++) {
        descriptor = manager.findById(name)?.descriptor;
        if (descriptor === undefined) await sleep(10);
      }
      assert.ok(descriptor !== undefined, 'run started the container');
      manager.exit(descriptor, exit);
      const r = await child;
      assert.deepEqual({ code: r.code, stdout: r.stdout }, { code: expected, stdout: '' });
    }
    const failed = await out('run', id('runfail'), join(bundle, 'config.json'));
    assert.equal(failed.code, 125);
  });

  test('events: one line per lifecycle event, or JSON lines', async () => {
    const text = spawn(join(import.meta.dirname, '..', '..', 'bin', 'dobby'), ['-a', address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const json = spawn(join(import.meta.dirname, '..', '..', 'bin', 'dobby'), ['-a', address, 'events', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let textOut = '';
    let jsonOut = '';
    text.stdout.on('data', (c: Buffer) => (textOut += c.toString()));
    json.stdout.on('data', (c: Buffer) => (jsonOut += c.toString()));
    try {
      await sleep(1_000); // both subscribed
      const cd = await manager.start({ id: id('ev'), bundle });
      manager.exit(cd, { exitCode: 3, signal: null, status: 768 });
      for (let i = 0; i < 200 && (jsonOut.split('\n').length < 5 || textOut.split('\n').length < 5); i++) await sleep(10);
    } finally {
      text.kill('SIGINT');
      json.kill('SIGINT');
    }
    const lines = textOut.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[1]), ['created', 'started', 'exited', 'deleted']);
    assert.match(lines[2]!, new RegExp(`^\\S+ exited ${id('ev')} descriptor=\\d+ exitCode=3 status=768$`));
    const events = jsonOut.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(events.map((e) => e['event']), ['created', 'started', 'exited', 'deleted']);
    assert.deepEqual([events[2]!['exitCode'], events[2]!['signal'], events[2]!['status'], events[2]!['oomKilled']], [3, null, 768, false]);
  });

  test('an unreachable daemon: message on stderr naming the D-Bus error, exit 3', async () => {
    const r = await out('shutdown');
    assert.equal(r.code, 0);
    const gone = await dobby(`unix:path=${join(bus!.dir, 'no-such-bus')}`, ['list']);
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /cannot talk to org\.rdk\.dobby/);
  });
});
