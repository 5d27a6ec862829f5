// The daemon's log targets over real sockets: syslog datagrams into a socket this test binds (a stand-in for
// /dev/log, which this host lacks), and SetLogMethod moving the lines between targets.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLoggerFamily } from '../../src/log.ts';
import { LogTargets } from '../../src/logging/log-targets.ts';
import { MILESTONE } from '../../src/logging/record.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-logtargets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('ready', flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

test('--syslog: one RFC 3164 datagram per line; SetLogMethod 0 stops them, 1 brings them back, unknown methods are refused', async (t) => {
  const socket = join(dir, 'log.sock');
  const receiver = spawn('/usr/bin/python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => receiver.kill('SIGTERM'));
  let out = '';
  receiver.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  while (!out.startsWith('ready\n')) await sleep(20);
  const got = (): string[] => out.split('\n').slice(1).filter((l) => l !== '').map((l) => JSON.parse(l) as string);

  const targets = new LogTargets({ console: null, journald: false, syslog: true, syslogSocket: socket, identifier: 'DobbyDaemon' });
  const logger = createLoggerFamily('info', targets).root;
  logger.info(MILESTONE, 'started Dobby daemon');
  logger.child({ containerId: 'app1', component: 'ports' }).warn({ port: 8080 }, 'port in use');
  while (got().length < 2) await sleep(20);
  assert.match(got()[0]!, new RegExp(`^<29>[A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d DobbyDaemon\\[${process.pid}\\]: < M:daemon > started Dobby daemon$`));
  assert.match(got()[1]!, /^<28>.* DobbyDaemon\[\d+\]: < M:ports:app1 > port in use \(port=8080\)$/);

  assert.equal(targets.setMethod(0, null), true);
  assert.deepEqual(targets.targets, []);
  logger.error('nobody hears this');
  assert.equal(targets.setMethod(1, null), true);
  logger.error('heard again');
  while (got().length < 3) await sleep(20);
  assert.match(got()[2]!, /^<27>.*< M:daemon > heard again$/);
  assert.equal(targets.setMethod(7, null), false);
  assert.equal(targets.setMethod(2, null), false, 'ethanlog needs an fd');
  assert.equal(targets.setMethod(3, null), false, 'no console to go back to');
});
